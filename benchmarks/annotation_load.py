"""Load on the annotation API: gunicorn + PostgreSQL on loopback, 32 annotators.

Two phases, each on a fresh campaign:
- closed loop: every annotator asks for the next image and labels it, as fast as answers come, for
  --seconds; prints labels/s;
- open loop: labels are offered at a fixed rate (--rate, default 50/s) by whichever annotator is free; latency
  is counted from the moment a label was due, so a slow server cannot hide its queue (no coordinated omission).
For both it prints p50/p95/p99 of next-image, submit, and the pair, and the CPU time per label spent by gunicorn,
by PostgreSQL and by the whole machine (these depend less on what else the machine is doing than the latencies),
and how the pool filled (when images got all their votes; a small --items lets the run complete the pool).

It creates a throw-away database (dropped at the end), writes small PNGs under a temporary media folder,
starts gunicorn on a free loopback port and stops it when done.

The cache is Redis (CACHE_URL, default redis://127.0.0.1:6379/1, a key prefix of its own), as in production: the
rate-limit counters of every request go through it. With --proxy the requests go through the production nginx
configuration (deploy/nginx) in front of gunicorn, as they would after a launch.

Usage: python benchmarks/annotation_load.py [--combined] [--auth token|session] [--annotators 32] [--seconds 20] [--rate 50] [--workers 4]
       [--worker-class sync|gthread] [--threads 1] [--items 600] [--proxy]
Targets (2-core machine, load script on the same machine): >= 100 labels/s closed loop; p95 <= 50 ms at 50/s.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from queue import Queue

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_time import ADMIN_URL, DatabaseCPU, _cpu, machine_busy_seconds, server_cpu_seconds  # noqa: E402, F401

DB_NAME = f"creative_annotation_bench_{os.getpid()}"
MEDIA = Path(tempfile.mkdtemp(prefix="annotation-bench-media-"))
ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "annotation-load-benchmark-secret-key-0123456789abcdef",
    "DATABASE_URL": ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME,
    "MEDIA_ROOT": str(MEDIA),
    "SECURE_SSL_REDIRECT": "false",
    "LOG_LEVEL": "ERROR",  # a server error is shown; the 403s of the warm-up requests are not
    "CONN_MAX_AGE": "600",
    # The per-user rate limits would stop 32 annotators labeling as fast as they can: what is measured here.
    "API_THROTTLE_BURST": "1000000/s",
    "API_THROTTLE_SUSTAINED": "1000000/s",
    # Redis, as in production: the throttle counters cost a round trip per request, which is part of a label.
    "CACHE_URL": os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/1"),
    "CACHE_KEY_PREFIX": f"annotation-bench-{os.getpid()}:",
    "BEHIND_PROXY": "true",  # only the benchmark's own nginx sets the forwarded headers
}
os.environ.update(ENV)
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"

LABELS = ("creative", "novel", "not_novel", "inconclusive")
COMBINED = False  # set by --combined


def admin_sql(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(ADMIN_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


def png(seed: int) -> bytes:
    from PIL import Image

    im = Image.new("L", (28, 28), color=seed % 256)
    im.putpixel((seed % 28, (seed // 28) % 28), 255)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def build(n_items: int, n_annotators: int, auth: str) -> tuple[list[int], list[dict[str, str]]]:
    """Two campaigns (one per phase) on pools of n_items, and n_annotators primed annotators; for each the HTTP
    headers that authenticate them: an API token, or (auth="session") a logged-in session and its CSRF token,
    as the labeling page sends them."""
    import django

    django.setup()
    from django.core.files.base import ContentFile
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from annotation import services
    from annotation.models import Campaign, Priming
    from generation.models import GenerationJob, PoolItem, Sample, SamplePool, TrainedModel
    from tests.factories import make_annotator

    call_command("migrate", verbosity=0)
    users = [make_annotator(f"bench{i:02d}") for i in range(n_annotators)]
    if auth == "token":
        credentials = [{"Authorization": f"Token {Token.objects.create(user=u).key}"} for u in users]
    else:
        from django.conf import settings
        from django.test import Client
        from django.utils.crypto import get_random_string

        credentials = []
        for user in users:
            client = Client()
            client.force_login(user)
            session = client.cookies[settings.SESSION_COOKIE_NAME].value
            csrf = get_random_string(32)
            credentials.append({"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}; {settings.CSRF_COOKIE_NAME}={csrf}",
                                "X-CSRFToken": csrf})
    model = TrainedModel.objects.create(name="bench", status="succeeded")
    campaigns = []
    for phase in ("closed", "open"):
        job = GenerationJob.objects.create(trained_model=model, schemes={}, samples_per_scheme=n_items // 4)
        pool = SamplePool.objects.create(job=job, name=phase)
        schemes = ("regular", "noisy", "random_flip", "low_active")
        for i in range(n_items):
            sample = Sample(job=job, scheme=schemes[i % 4], index=i // 4)
            sample.image.save("x.png", ContentFile(png(i)), save=False)
            sample.save()
            PoolItem.objects.create(pool=pool, position=i, sample=sample)
        campaign = Campaign.objects.create(name=phase, pool=pool)
        campaign.annotators.add(*users)
        Priming.objects.bulk_create([Priming(campaign=campaign, annotator=u) for u in users])
        services.ensure_slots(campaign)
        campaigns.append(campaign.pk)
    from django.db import connections

    connections.close_all()
    return campaigns, credentials


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(port: int, workers: int, worker_class: str = "sync", threads: int = 1,
                   env: dict[str, str] | None = None, warm_paths: tuple[str, ...] = ("/favicon.ico",)
                   ) -> subprocess.Popen:
    """gunicorn on a loopback port, returned once every worker has answered (warm): its readiness is judged by
    progress (the workers keep using CPU while they import Django), not by a fixed time, which a loaded machine
    can exceed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--worker-class", worker_class, "--threads", str(threads),
         "--timeout", "120", "--log-level", "warning"],
        cwd=REPO, env={**os.environ, **ENV, **(env or {})}, start_new_session=True, stdout=subprocess.DEVNULL,
    )
    try:
        wait_ready(proc, port)
        warm(port, workers * max(threads, 1), warm_paths)
    except BaseException:
        stop_gunicorn(proc)
        raise
    return proc


def wait_ready(proc: subprocess.Popen, port: int, stall: float = 30) -> None:
    """Until a request answers; fails when gunicorn exits or its processes used no CPU for `stall` seconds."""
    import requests

    last_cpu, last_progress = -1.0, time.monotonic()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {proc.returncode}")
        try:
            requests.get(f"http://127.0.0.1:{port}/favicon.ico", timeout=5)  # answers quickly once it is up
            return
        except requests.RequestException:
            pass
        cpu = server_cpu_seconds(proc)
        if cpu > last_cpu + 0.01:
            last_cpu, last_progress = cpu, time.monotonic()
        elif time.monotonic() - last_progress > stall:
            raise RuntimeError(f"gunicorn made no progress for {stall:g} s")
        time.sleep(0.2)


def warm(port: int, slots: int, paths: tuple[str, ...], rounds: int = 3) -> None:
    """Requests on every worker at once, a few times over: each worker's first requests import views and
    compile templates, which is not what a participant should wait for."""
    import requests

    def one(_: int) -> None:
        for path in paths:
            requests.get(f"http://127.0.0.1:{port}{path}", timeout=60)

    with ThreadPoolExecutor(slots) as ex:
        for _ in range(rounds):
            list(ex.map(one, range(slots)))


def stop_gunicorn(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)


class Annotator:
    """One annotator's client. Plain http.client (one short connection per request, as gunicorn's sync workers
    close them): the load script shares the machine's two cores with the server, so it should cost little."""

    def __init__(self, port: int, campaign: int, credentials: dict[str, str]) -> None:
        self.port = port
        self.headers = {**credentials, "Content-Type": "application/json"}
        self.next_path = f"/api/campaigns/{campaign}/next/"
        self.submit_path = f"/api/campaigns/{campaign}/labels/"
        self.rng = random.Random(str(credentials))
        self.finished = False
        self.held: str | None = None
        self.combined = COMBINED

    def post(self, path: str, body: dict | None = None) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("POST", path, body=json.dumps(body or {}), headers=self.headers)
            response = conn.getresponse()
            answer = json.loads(response.read())
        finally:
            conn.close()
        if isinstance(answer.get("item"), dict) and "data_url" not in answer["item"]:
            raise RuntimeError(f"{path} handed out an image without the image itself: {answer}")
        return response.status, answer

    def label_one(self) -> tuple[float, float] | None:
        """(next seconds, submit seconds), or None when the pool has nothing left for this annotator.

        With combined=True (what the labeling page does) the submit also hands out the next image, so the
        next-image time is 0 after the first label and the submit time covers both.
        """
        t0 = time.perf_counter()
        if self.held is None:
            status, body = self.post(self.next_path)
            if status != 200:
                raise RuntimeError(f"next answered {status}: {body}")
            if body["done"]:
                self.finished = True
                return None
            self.held = body["item"]["id"]
        t1 = time.perf_counter()
        status, body = self.post(self.submit_path, {"item": self.held, "value": self.rng.choice(LABELS),
                                                    "time_spent_ms": 900, "next": self.combined})
        t2 = time.perf_counter()
        if status != 201:
            raise RuntimeError(f"submit answered {status}: {body}")
        self.held = body["item"]["id"] if self.combined and body.get("item") else None
        return t1 - t0, t2 - t1


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000 if len(values) > 1 else float("nan")


def report(name: str, nexts: list[float], submits: list[float], pairs: list[float], labels: int, seconds: float) -> None:
    print(f"{name}: {labels} labels in {seconds:.1f} s = {labels / seconds:.1f} labels/s")
    for what, values in (("next-image", nexts), ("submit", submits), ("next+submit", pairs)):
        print(f"  {what:12s} p50 {pct(values, 50):6.1f} ms   p95 {pct(values, 95):6.1f} ms   p99 {pct(values, 99):6.1f} ms")


def closed_loop(port: int, campaign: int, credentials: list[dict[str, str]], seconds: float) -> int:
    annotators = [Annotator(port, campaign, c) for c in credentials]
    nexts: list[float] = []
    submits: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def run(a: Annotator) -> None:
        while time.perf_counter() < stop and not a.finished:
            timing = a.label_one()
            if timing:
                with lock:
                    nexts.append(timing[0])
                    submits.append(timing[1])

    start = time.perf_counter()
    with ThreadPoolExecutor(len(annotators)) as ex:
        list(ex.map(run, annotators))
    elapsed = time.perf_counter() - start
    report(f"closed loop, {len(annotators)} annotators", nexts, submits, [a + b for a, b in zip(nexts, submits, strict=True)],
           len(submits), elapsed)
    return len(submits)


def open_loop(port: int, campaign: int, credentials: list[dict[str, str]], seconds: float, rate: float) -> int:
    free: Queue[Annotator] = Queue()
    for c in credentials:
        free.put(Annotator(port, campaign, c))
    nexts: list[float] = []
    submits: list[float] = []
    pairs: list[float] = []
    lock = threading.Lock()

    def one(due: float) -> None:
        a = free.get()
        try:
            timing = a.label_one()
        finally:
            free.put(a)
        done = time.perf_counter()
        if timing:
            with lock:
                nexts.append(timing[0])
                submits.append(timing[1])
                pairs.append(done - due)  # from when the label was due: includes any wait for a free client

    n = int(seconds * rate)
    start = time.perf_counter()
    with ThreadPoolExecutor(len(credentials)) as ex:
        for i in range(n):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            ex.submit(one, due)
    elapsed = time.perf_counter() - start
    report(f"open loop, offered {rate:g} labels/s", nexts, submits, pairs, len(pairs), elapsed)
    return len(pairs)


def load_average() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())
def fill_report(campaign_id: int) -> None:
    """How the pool filled: after how many of the run's labels images got all their votes (first, median, last),
    and how long an image waited from its first vote to its last. The price of each annotator's own order (the
    least-filled images first): images complete late and together, where "fullest first" completed them early,
    one after another."""
    from annotation.models import Campaign, Label

    campaign = Campaign.objects.get(pk=campaign_id)
    need = campaign.annotators_per_image
    rows = list(Label.objects.filter(campaign=campaign).order_by("created_at", "pk").values_list("item_id", "created_at"))
    if not rows:
        return
    count: dict[int, int] = {}
    first: dict[int, object] = {}
    done_at: list[int] = []  # the run's label number at which each image got its last vote
    waits: list[float] = []  # seconds from an image's first vote to its last
    for k, (item, at) in enumerate(rows, 1):
        count[item] = count.get(item, 0) + 1
        first.setdefault(item, at)
        if count[item] == need:
            done_at.append(k)
            waits.append((at - first[item]).total_seconds())
    n_items = campaign.campaign_items.count()
    share = [k / len(rows) for k in done_at]
    votes = sorted(count.get(pk, 0) for pk in campaign.campaign_items.values_list("item_id", flat=True))
    print(f"  fill: {len(done_at)} of {n_items} images got their {need} votes in {len(rows)} labels "
          f"({len(rows) / (need * n_items):.0%} of the pool's votes); votes per image {votes[0]}-{votes[-1]} "
          f"(median {statistics.median(votes):g})")
    if done_at:
        print(f"    an image complete after {share[0]:.0%} (first), {statistics.median(share):.0%} (median), "
              f"{share[-1]:.0%} (last) of the run's labels; first to last vote of an image: median "
              f"{statistics.median(waits):.1f} s, max {max(waits):.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (gthread)")
    parser.add_argument("--items", type=int, default=600, help="images per pool (9 labels each)")
    parser.add_argument("--auth", choices=["token", "session"], default="token",
                        help="API tokens, or logged-in sessions with CSRF tokens as the labeling page sends them")
    parser.add_argument("--combined", action="store_true",
                        help="submit with next=true (one request per label, as the labeling page does)")
    parser.add_argument("--proxy", action="store_true", help="through the production nginx configuration")
    args = parser.parse_args()
    global COMBINED
    COMBINED = args.combined

    admin_sql(f'CREATE DATABASE "{DB_NAME}"')
    proc = proxy = None
    try:
        campaigns, credentials = build(args.items, args.annotators, args.auth)
        port = free_port()
        proc = start_gunicorn(port, args.workers, args.worker_class, args.threads)
        if args.proxy:
            from deploy.proxy import Proxy

            (MEDIA / "static").mkdir()
            proxy = Proxy(MEDIA / "nginx", MEDIA / "static", f"127.0.0.1:{port}")
        target = proxy.port if proxy else port
        mode = "submit with next=true (1 request per label)" if COMBINED else "next + submit (2 requests per label)"
        print(f"gunicorn {args.workers} {args.worker_class} workers x {args.threads} threads"
              f"{' behind nginx' if proxy else ''}, PostgreSQL, Redis cache, {os.cpu_count()} CPUs, "
              f"{args.items} images per pool; {mode}; {args.auth} authentication; {load_average()}")
        phases = ((campaigns[0], lambda: closed_loop(target, campaigns[0], credentials, args.seconds)),
                  (campaigns[1], lambda: open_loop(target, campaigns[1], credentials, args.seconds, args.rate)))
        for campaign, phase in phases:
            database = DatabaseCPU(DB_NAME)
            before = server_cpu_seconds(proc), machine_busy_seconds()
            labels = phase()
            after = server_cpu_seconds(proc), machine_busy_seconds()
            db = 1000 * database.seconds() / max(labels, 1)
            fill_report(campaign)
            if labels:
                web, machine = (1000 * (b - a) / labels for a, b in zip(before, after, strict=True))
                print(f"  CPU per label: gunicorn {web:.1f} ms, PostgreSQL (this database's backends) {db:.1f} ms, "
                      f"whole machine {machine:.1f} ms; {load_average()}")
    finally:
        if proxy is not None:
            proxy.stop()
        if proc is not None:
            stop_gunicorn(proc)
        admin_sql(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        shutil.rmtree(MEDIA, ignore_errors=True)


if __name__ == "__main__":
    main()

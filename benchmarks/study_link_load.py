"""Load on the study link at a launch: panel participants arriving while the first ones already label, through the
production proxy (nginx with deploy/nginx's configuration) in front of gunicorn, with PostgreSQL and Redis.

Each simulated participant does what a browser does: opens the Prolific-style link, agrees on the consent page
(a new pseudonymous account), reads the instructions and the priming grid, starts labeling, labels until the
quota (submit with next=true, as the labeling page does), and opens the completion page for its code. On every page
it fetches the static files the page names (style sheets, scripts, icons) that its browser has not fetched yet;
nginx serves them from the collected STATIC_ROOT. Arrivals are a Poisson process (--participants spread uniformly at
random over --arrive-within seconds); between two labels a participant looks at the image for a think time drawn
from a log-normal distribution (median --think-median s, shape --think-sigma: the long right tail of people who
pause). --returning of them leave half-way and come back in a fresh browser (a new session) with the same id.

It checks, and fails loudly otherwise: no request answered with an error; one account per participant id (and
the returning ones back in theirs); no image with more labels than the campaign's votes per image; every
participant got the completion code (or, if the pool ran out, the no-work code). It prints the time from
arrival to the first image (p50/p95/p99: the requests of the link, consent, instructions, priming and the first
image with their static files, without the participant's reading time), the time per label (p50/p95/p99), the
CPU spent by gunicorn, nginx and this database's PostgreSQL backends (pg_stat_activity's pids for the database,
their CPU from the kernel), and the machine's load average before and after.

It makes a throw-away database (dropped at the end), small PNGs under a temporary media folder, collects the
static files, starts gunicorn (waiting for warm workers by their progress, not a fixed time) and nginx on free
loopback ports. With --api-workers N the labels under /api/ go to a second gunicorn pool of N workers, as the
proxy's configuration allows, so arrivals do not queue behind them. The cache (rate limits) is Redis (CACHE_URL,
default redis://127.0.0.1:6379/1, own key prefix). All participants come from 127.0.0.1, so the per-address
limit on new accounts is raised for the run (STUDY_ENROL_RATE_PER_IP); the per-link limit keeps its default.

Usage: python benchmarks/study_link_load.py [--participants 200] [--arrive-within 60] [--quota 50] [--items 1200]
       [--think-median 5] [--think-sigma 0.6] [--returning 20] [--workers 3] [--api-workers 0]
       [--worker-class sync] [--threads 1]
Targets (a quiet 2-core machine): arrival -> first image p95 <= 300 ms at 200 arrivals per minute.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import annotation_load as base  # noqa: E402  (sets up the environment of the throw-away site)

STUDY_ENV = {
    "CACHE_URL": os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/1"),
    "CELERY_KEY_PREFIX": f"study-bench-{os.getpid()}:",
    "STUDY_ENROL_RATE_PER_IP": "100000/h",  # every simulated participant shares one address
    "STATIC_ROOT": str(base.MEDIA / "static"),
    "SESSION_COOKIE_SECURE": "false",  # plain HTTP on loopback: browsers would not send secure cookies
    "CSRF_COOKIE_SECURE": "false",
}
os.environ.update(STUDY_ENV)
base.ENV.update(STUDY_ENV)
LABELS = base.LABELS
STATIC_REF = re.compile(r'(?:href|src)="(/static/[^"]+)"')


def build(n_items: int, quota: int) -> tuple[int, str, int]:
    """A campaign on a pool of n_items (9 votes each) with a Prolific study link; (campaign, link path, per image)."""
    import django

    django.setup()
    from django.core.files.base import ContentFile
    from django.core.management import call_command

    from annotation import services
    from annotation.images import priming_png
    from annotation.models import Campaign, StudyLink
    from generation.models import GenerationJob, PoolItem, Sample, SamplePool, TrainedModel

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # nginx serves them, as in production
    training = base.MEDIA / "training"
    training.mkdir(parents=True)
    for i in range(16):
        (training / f"{i:02d}.png").write_bytes(base.png(1000 + i))
    model = TrainedModel.objects.create(name="bench", dataset="folder", folder_path=str(training), status="succeeded")
    job = GenerationJob.objects.create(trained_model=model, schemes={}, samples_per_scheme=n_items // 4)
    pool = SamplePool.objects.create(job=job, name="panel")
    schemes = ("regular", "noisy", "random_flip", "low_active")
    for i in range(n_items):
        sample = Sample(job=job, scheme=schemes[i % 4], index=i // 4)
        sample.image.save("x.png", ContentFile(base.png(i)), save=False)
        sample.save()
        PoolItem.objects.create(pool=pool, position=i, sample=sample)
    campaign = Campaign.objects.create(name="panel", pool=pool, priming_count=16)
    services.ensure_slots(campaign)
    priming_png(campaign)  # the researcher previewed it: the grid is built once, before anyone arrives
    link = StudyLink.objects.create(campaign=campaign, quota=quota,
                                    completion_url="https://app.prolific.com/submissions/complete?cc={code}")
    from django.db import connections

    connections.close_all()
    return campaign.pk, f"/annotate/study/{link.link_id}/{link.secret}/", campaign.annotators_per_image


class Participant:
    """One participant's browser: a requests session (cookies, redirects, a cache of static files), one request at
    a time."""

    def __init__(self, port: int, campaign: int, link: str, pid: str, think: tuple[float, float]) -> None:
        self.root = f"http://127.0.0.1:{port}"
        self.campaign, self.pid = campaign, pid
        self.think_mu, self.think_sigma = math.log(think[0]) if think[0] > 0 else None, think[1]
        self.url = f"{self.root}{link}?PROLIFIC_PID={pid}&STUDY_ID=benchstudy&SESSION_ID=s{pid[-6:]}"
        self.first_image: float | None = None
        self.label_times: list[float] = []
        self.static_fetches = 0
        self.code = ""
        self.rng = random.Random(pid)
        self.half = 1
        self.cached: set[str] = set()

    def browser(self):
        import requests

        self.cached = set()  # a fresh browser has nothing cached
        return requests.Session()

    def check(self, response, *expected: int):
        if response.status_code not in expected:
            raise RuntimeError(f"{self.pid}: {response.request.method} {response.url} answered {response.status_code}: "
                               f"{response.text[:300]}")
        return response

    def page(self, session, response):
        """A page as a browser loads it: then the static files it names that are not cached yet."""
        self.check(response, 200)
        for path in dict.fromkeys(STATIC_REF.findall(response.text)):
            if path not in self.cached:
                self.check(session.get(self.root + path, timeout=120), 200)
                self.cached.add(path)
                self.static_fetches += 1
        return response

    def api(self, session, path: str, body: dict | None = None) -> dict:
        headers = {"X-CSRFToken": session.cookies.get("csrftoken", ""), "Referer": self.root + "/"}
        return self.check(session.post(f"{self.root}/api/campaigns/{self.campaign}/{path}/", json=body or {},
                                       headers=headers, timeout=120), 200, 201).json()

    def arrive(self, session) -> dict:
        """Link, consent, instructions and priming, the labeling page: up to the first image."""
        start = time.perf_counter()
        consent = self.page(session, session.get(self.url, timeout=120))
        if "I agree" in consent.text:
            csrf = session.cookies.get("csrftoken")
            page = self.page(session, session.post(self.url, data={"csrfmiddlewaretoken": csrf}, timeout=120))
            if "start labeling" in page.text:  # the instructions and the priming grid
                self.check(session.get(f"{self.root}/annotate/{self.campaign}/priming.png", timeout=120), 200)
                self.page(session, session.post(f"{self.root}/annotate/{self.campaign}/priming/",
                                                data={"csrfmiddlewaretoken": session.cookies.get("csrftoken")},
                                                headers={"Referer": self.root + "/"}, timeout=120))
        answer = self.api(session, "next")
        if self.first_image is None:
            self.first_image = time.perf_counter() - start
        return answer

    def think(self) -> None:
        if self.think_mu is not None:
            time.sleep(self.rng.lognormvariate(self.think_mu, self.think_sigma))

    def label(self, session, answer: dict, stop_after: int | None = None) -> dict:
        n = 0
        while not answer["done"] and (stop_after is None or n < stop_after):
            self.think()
            t = time.perf_counter()
            answer = self.api(session, "labels", {"item": answer["item"]["id"], "value": self.rng.choice(LABELS),
                                                  "time_spent_ms": 900, "next": True})
            self.label_times.append(time.perf_counter() - t)
            n += 1
        return answer

    def finish(self, session) -> None:
        page = self.page(session, session.get(f"{self.root}/annotate/{self.campaign}/done/", timeout=120))
        found = re.search(r'id="code">([^<]+)<', page.text)
        if not found:
            raise RuntimeError(f"{self.pid}: no completion code on {page.url}")
        self.code = found.group(1)

    def run(self, returning: bool) -> None:
        session = self.browser()
        answer = self.arrive(session)
        if returning:
            answer = self.label(session, answer, stop_after=self.half)
            session.close()
            session = self.browser()  # another browser, the same id
            answer = self.arrive(session)
        self.label(session, answer)
        self.finish(session)


def verify(campaign: int, participants: list[Participant], per_image: int, quota: int) -> list[str]:
    from django.db import connections
    from django.db.models import Count

    from annotation.models import CampaignItem, Label, StudyLink
    from annotation.models import Participant as Row

    problems = []
    rows = list(Row.objects.filter(campaign_id=campaign))
    if len(rows) != len(participants):
        problems.append(f"{len(rows)} participant rows for {len(participants)} participants")
    if len({r.user_id for r in rows}) != len(rows) or any(r.user_id is None for r in rows if r.outcome != "no_work"):
        problems.append("a participant id with no account or two ids sharing one")
    accounts = Label.objects.filter(campaign_id=campaign).values("annotator").distinct().count()
    if accounts > len(participants):
        problems.append(f"labels from {accounts} accounts for {len(participants)} participants")
    over = CampaignItem.objects.filter(campaign_id=campaign, labels_count__gt=per_image).count()
    counted = (Label.objects.filter(campaign_id=campaign).values("item").annotate(n=Count("id"))
               .filter(n__gt=per_image).count())
    if over or counted:
        problems.append(f"{max(over, counted)} images over their {per_image} votes")
    link = StudyLink.objects.get(campaign_id=campaign)
    for p in participants:
        row = next((r for r in rows if r.participant_id == p.pid), None)
        n = Label.objects.filter(campaign_id=campaign, annotator_id=row.user_id).count() if row else 0
        if row is None or p.code != row.code_given or p.code not in (link.code_completed, link.code_no_work,
                                                                     link.code_failed_checks):
            problems.append(f"{p.pid}: code {p.code!r} vs stored {row and row.code_given!r}")
        elif n > quota:
            problems.append(f"{p.pid}: {n} labels over the quota of {quota}")
    connections.close_all()
    return problems


def ms(values: list[float], q: int) -> float:
    return base.pct(values, q)


class Site:
    """gunicorn (one pool, or one for the pages and one for the labels) behind nginx, all on loopback."""

    def __init__(self, args: argparse.Namespace) -> None:
        from deploy.proxy import Proxy

        warm_paths = ("/accounts/login/", "/favicon.ico")
        self.pools = []
        try:
            pages = base.free_port()
            self.pools.append(base.start_gunicorn(pages, args.workers, args.worker_class, args.threads,
                                                  warm_paths=warm_paths))
            api = pages
            if args.api_workers:
                api = base.free_port()
                self.pools.append(base.start_gunicorn(api, args.api_workers, args.worker_class, args.threads,
                                                      warm_paths=warm_paths))
            self.proxy = Proxy(base.MEDIA / "nginx", base.MEDIA / "static", f"127.0.0.1:{pages}", f"127.0.0.1:{api}")
        except BaseException:
            self.stop()
            raise

    def cpu(self) -> tuple[float, float]:
        """(gunicorn, nginx) CPU seconds so far."""
        import psutil

        proxy = psutil.Process(self.proxy.proc.pid)
        nginx = sum(base._cpu(p.cpu_times()) for p in [proxy, *proxy.children(recursive=True)])
        return sum(base.server_cpu_seconds(pool) for pool in self.pools), nginx

    def stop(self) -> None:
        if getattr(self, "proxy", None) is not None:
            self.proxy.stop()
        for pool in self.pools:
            base.stop_gunicorn(pool)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--arrive-within", type=float, default=60, help="seconds over which arrivals are spread")
    parser.add_argument("--quota", type=int, default=50)
    parser.add_argument("--items", type=int, default=1200, help="images in the pool (9 votes each)")
    parser.add_argument("--returning", type=int, default=20, help="participants who leave half-way and come back")
    parser.add_argument("--think-median", type=float, default=5.0, help="median seconds spent looking at an image")
    parser.add_argument("--think-sigma", type=float, default=0.6, help="shape of the log-normal think time")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (all requests, or the pages')")
    parser.add_argument("--api-workers", type=int, default=0, help="a second pool of this many for the labels")
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args()


def report(people: list[Participant], errors: list[str], elapsed: float, cpu: dict[str, float]) -> None:
    firsts = [p.first_image for p in people if p.first_image is not None]
    labels = [t for p in people for t in p.label_times]
    print(f"done in {elapsed:.1f} s: {len(firsts)} arrivals, {len(labels)} labels ({len(labels) / elapsed:.1f}/s), "
          f"{sum(p.static_fetches for p in people)} static files, {len(errors)} errors")
    print(f"  arrival -> first image  p50 {ms(firsts, 50):7.1f} ms   p95 {ms(firsts, 95):7.1f} ms   "
          f"p99 {ms(firsts, 99):7.1f} ms   max {max(firsts, default=0) * 1000:7.1f} ms")
    print(f"  label (submit+next)     p50 {ms(labels, 50):7.1f} ms   p95 {ms(labels, 95):7.1f} ms   "
          f"p99 {ms(labels, 99):7.1f} ms")
    print("  CPU: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in cpu.items())
          + f" (PostgreSQL: this database's backends only); {base.load_average()}")


def main() -> None:
    args = arguments()
    base.admin_sql(f'CREATE DATABASE "{base.DB_NAME}"')
    site = None
    try:
        campaign, link, per_image = build(args.items, args.quota)
        site = Site(args)
        pools = f"{args.workers} {args.worker_class} workers" + (f" for the pages + {args.api_workers} for the labels"
                                                                  if args.api_workers else "")
        print(f"nginx -> gunicorn ({pools}, {args.threads} thread(s) each), PostgreSQL, Redis, {os.cpu_count()} CPUs; "
              f"{args.participants} participants arriving within {args.arrive_within:g} s, quota {args.quota}, "
              f"{args.items} images x {per_image} votes, {args.returning} come back in a second browser half-way; "
              f"think time log-normal, median {args.think_median:g} s, sigma {args.think_sigma:g}; {base.load_average()}")
        rng = random.Random(7)
        people = [Participant(site.proxy.port, campaign, link, f"{rng.getrandbits(96):024x}",
                              (args.think_median, args.think_sigma)) for _ in range(args.participants)]
        returning = set(rng.sample(range(len(people)), min(args.returning, len(people))))
        for p in people:
            p.half = max(1, args.quota // 2)
        arrivals = sorted(rng.uniform(0, args.arrive_within) for _ in people)
        errors: list[str] = []
        lock = threading.Lock()
        database = base.DatabaseCPU(base.DB_NAME)
        before = site.cpu()
        start = time.perf_counter()

        def one(i: int) -> None:
            delay = start + arrivals[i] - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            try:
                people[i].run(i in returning)
            except Exception as exc:  # noqa: BLE001 - every failure is counted and shown
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")

        with ThreadPoolExecutor(len(people)) as ex:
            list(ex.map(one, range(len(people))))
        elapsed = time.perf_counter() - start
        web, nginx = (b - a for a, b in zip(before, site.cpu(), strict=True))
        report(people, errors, elapsed, {"gunicorn": web, "nginx": nginx, "PostgreSQL": database.seconds()})
        problems = errors[:10] + verify(campaign, people, per_image, args.quota)
        codes = {p.code for p in people}
        print(f"  codes handed out: {len([p for p in people if p.code])} ({len(codes)} distinct)")
        if problems:
            print("PROBLEMS:\n  " + "\n  ".join(problems))
            sys.exit(1)
        print("  checks: no error, one account per participant id, no image over its votes, every code stored")
    finally:
        if site is not None:
            site.stop()
        base.admin_sql(f'DROP DATABASE IF EXISTS "{base.DB_NAME}" WITH (FORCE)')
        import shutil

        shutil.rmtree(base.MEDIA, ignore_errors=True)


if __name__ == "__main__":
    main()

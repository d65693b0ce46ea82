"""Load on the study link: panel participants arriving at once, against gunicorn + PostgreSQL on loopback.

Each simulated participant does what a browser does: opens the Prolific-style link, agrees on the consent page
(a new pseudonymous account), reads the instructions and the priming grid, starts labeling, labels until the
quota (submit with next=true, as the labeling page does), and opens the completion page for its code. Arrivals
are spread at random over --arrive-within seconds; --returning of them leave half-way and come back in a fresh
browser (a new session) with the same id.

It checks, and fails loudly otherwise: no request answered with an error; one account per participant id (and
the returning ones back in theirs); no image with more labels than the campaign's votes per image; every
participant got the completion code (or, if the pool ran out, the no-work code). It prints the time from
arrival to the first image (p50/p95/p99), the time per label, and the CPU gunicorn and PostgreSQL spent.

Like benchmarks/annotation_load.py it makes a throw-away database (dropped at the end), small PNGs under a
temporary media folder, and starts gunicorn on a free loopback port. All participants come from 127.0.0.1, so the
per-address limit on new accounts is raised for the run (STUDY_ENROL_RATE_PER_IP); the per-link limit keeps its
default. The rate-limit counters live in Redis (CACHE_URL, default redis://127.0.0.1:6379/1, own key prefix).

Usage: python benchmarks/study_link_load.py [--participants 200] [--arrive-within 60] [--quota 50] [--items 1200]
       [--returning 20] [--workers 4] [--think 0]
"""

from __future__ import annotations

import argparse
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
    "CSRF_COOKIE_SECURE": "false",  # the pages need the collected static files, as in production
}
os.environ.update(STUDY_ENV)
base.ENV.update(STUDY_ENV)
LABELS = base.LABELS


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
    call_command("collectstatic", interactive=False, verbosity=0)
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
    """One participant's browser: a requests session (cookies, redirects), one request at a time."""

    def __init__(self, port: int, campaign: int, link: str, pid: str, think: float) -> None:
        self.root = f"http://127.0.0.1:{port}"
        self.campaign, self.pid, self.think = campaign, pid, think
        self.url = f"{self.root}{link}?PROLIFIC_PID={pid}&STUDY_ID=benchstudy&SESSION_ID=s{pid[-6:]}"
        self.first_image: float | None = None
        self.label_times: list[float] = []
        self.code = ""
        self.rng = random.Random(pid)
        self.half = 1

    def browser(self):
        import requests

        return requests.Session()

    def check(self, response, *expected: int):
        if response.status_code not in expected:
            raise RuntimeError(f"{self.pid}: {response.request.method} {response.url} answered {response.status_code}: "
                               f"{response.text[:300]}")
        return response

    def api(self, session, path: str, body: dict | None = None) -> dict:
        headers = {"X-CSRFToken": session.cookies.get("csrftoken", ""), "Referer": self.root + "/"}
        return self.check(session.post(f"{self.root}/api/campaigns/{self.campaign}/{path}/", json=body or {},
                                       headers=headers, timeout=120), 200, 201).json()

    def arrive(self, session) -> None:
        """Link, consent, instructions and priming, the labeling page: up to the first image."""
        start = time.perf_counter()
        consent = self.check(session.get(self.url, timeout=120), 200)
        if "I agree" in consent.text:
            csrf = session.cookies.get("csrftoken")
            page = self.check(session.post(self.url, data={"csrfmiddlewaretoken": csrf}, timeout=120), 200)
            if "start labeling" in page.text:  # the instructions and the priming grid
                self.check(session.get(f"{self.root}/annotate/{self.campaign}/priming.png", timeout=120), 200)
                self.check(session.post(f"{self.root}/annotate/{self.campaign}/priming/",
                                        data={"csrfmiddlewaretoken": session.cookies.get("csrftoken")},
                                        headers={"Referer": self.root + "/"}, timeout=120), 200)
        answer = self.api(session, "next")
        if self.first_image is None:
            self.first_image = time.perf_counter() - start
        return answer

    def label(self, session, answer: dict, stop_after: int | None = None) -> dict:
        n = 0
        while not answer["done"] and (stop_after is None or n < stop_after):
            if self.think:
                time.sleep(self.rng.uniform(0.5, 1.5) * self.think)
            t = time.perf_counter()
            answer = self.api(session, "labels", {"item": answer["item"]["id"], "value": self.rng.choice(LABELS),
                                                  "time_spent_ms": 900, "next": True})
            self.label_times.append(time.perf_counter() - t)
            n += 1
        return answer

    def finish(self, session) -> None:
        page = self.check(session.get(f"{self.root}/annotate/{self.campaign}/done/", timeout=120), 200)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--arrive-within", type=float, default=60, help="seconds over which arrivals are spread")
    parser.add_argument("--quota", type=int, default=50)
    parser.add_argument("--items", type=int, default=1200, help="images in the pool (9 votes each)")
    parser.add_argument("--returning", type=int, default=20, help="participants who leave half-way and come back")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--think", type=float, default=0.0, help="mean seconds a participant looks at an image")
    args = parser.parse_args()

    base.admin_sql(f'CREATE DATABASE "{base.DB_NAME}"')
    proc = None
    try:
        campaign, link, per_image = build(args.items, args.quota)
        port = base.free_port()
        proc = base.start_gunicorn(port, args.workers)
        print(f"gunicorn {args.workers} workers, PostgreSQL, {os.cpu_count()} CPUs; {args.participants} participants "
              f"arriving within {args.arrive_within:g} s, quota {args.quota}, {args.items} images x {per_image} votes, "
              f"{args.returning} come back in a second browser half-way; think time {args.think:g} s")
        rng = random.Random(7)
        people = [Participant(port, campaign, link, f"{rng.getrandbits(96):024x}", args.think)
                  for _ in range(args.participants)]
        returning = set(rng.sample(range(len(people)), min(args.returning, len(people))))
        for p in people:
            p.half = max(1, args.quota // 2)
        arrivals = sorted(rng.uniform(0, args.arrive_within) for _ in people)
        errors: list[str] = []
        lock = threading.Lock()
        before = base.server_cpu_seconds(proc), base.postgres_cpu_seconds()
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
        web, db = (b - a for a, b in zip(before, (base.server_cpu_seconds(proc), base.postgres_cpu_seconds()),
                                          strict=True))
        firsts = [p.first_image for p in people if p.first_image is not None]
        labels = [t for p in people for t in p.label_times]
        print(f"done in {elapsed:.1f} s: {len(labels)} labels ({len(labels) / elapsed:.1f}/s), {len(errors)} errors")
        print(f"  arrival -> first image  p50 {ms(firsts, 50):7.1f} ms   p95 {ms(firsts, 95):7.1f} ms   "
              f"p99 {ms(firsts, 99):7.1f} ms   max {max(firsts, default=0) * 1000:7.1f} ms")
        print(f"  label (submit+next)     p50 {ms(labels, 50):7.1f} ms   p95 {ms(labels, 95):7.1f} ms   "
              f"p99 {ms(labels, 99):7.1f} ms")
        if labels:
            print(f"  CPU per label: gunicorn {1000 * web / len(labels):.1f} ms, PostgreSQL {1000 * db / len(labels):.1f} ms")
        problems = errors[:10] + verify(campaign, people, per_image, args.quota)
        codes = {p.code for p in people}
        print(f"  codes handed out: {len([p for p in people if p.code])} ({len(codes)} distinct)")
        if problems:
            print("PROBLEMS:\n  " + "\n  ".join(problems))
            sys.exit(1)
        print("  checks: no error, one account per participant id, no image over its votes, every code stored")
    finally:
        if proc is not None:
            base.stop_gunicorn(proc)
        base.admin_sql(f'DROP DATABASE IF EXISTS "{base.DB_NAME}" WITH (FORCE)')
        import shutil

        shutil.rmtree(base.MEDIA, ignore_errors=True)


if __name__ == "__main__":
    main()

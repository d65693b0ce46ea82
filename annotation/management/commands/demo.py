"""`manage.py demo`: a small end-to-end setup to try the site: model, job, pool, campaign, annotators.

Idempotent: every object is found by its demo name first, so a second run reuses what the first one made
(and only finishes what failed or never ran).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import threading
import time
from contextlib import contextmanager

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError

from annotation.models import Campaign
from annotation.services import ensure_slots
from config.roles import ANNOTATORS
from creative_core.training import DEMO_TRAINING
from generation.models import AttentionKind, Dataset, GenerationJob, JobStatus, SamplePool, TrainedModel

DEMO_MODEL = "Demo model"
DEMO_POOL = "Demo pool"
DEMO_CAMPAIGN = "Demo campaign"


class Command(BaseCommand):
    help = "Train a small model, run a job, build a pool and open a campaign with demo annotators (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dataset", default=Dataset.MNIST, choices=[d.value for d in Dataset])
        parser.add_argument("--folder", default="", help="image folder, with --dataset folder")
        parser.add_argument("--limit", type=int, default=DEMO_TRAINING["limit"],
                            help="training images (default: all)")
        parser.add_argument("--epochs", type=int, default=DEMO_TRAINING["epochs"])
        parser.add_argument("--batch-size", type=int, default=DEMO_TRAINING["batch_size"], help="training batch")
        parser.add_argument("--classifier-limit", type=int, default=20_000,
                            help="training images of the classifier behind the surrogate metrics (0: all)")
        parser.add_argument("--samples", type=int, default=200, help="samples per scheme in the job")
        parser.add_argument("--per-scheme", type=int, default=25, help="images per scheme in the pool")
        parser.add_argument("--attention-checks", type=int, default=5)
        parser.add_argument("--attention-kind", default=AttentionKind.RECONSTRUCTION,
                            choices=[k.value for k in AttentionKind], help="what the attention checks show")
        parser.add_argument("--accept-spottable-checks", action="store_true",
                            help="build the pool even if its attention checks can be told from its images by look "
                                 "(e.g. a model trained too briefly to reconstruct)")
        parser.add_argument("--optimise-dr", action=argparse.BooleanOptionalAction, default=True,
                            help="also compute the optimised D_r, so the report's column has values (the slowest "
                                 "step of the job; --no-optimise-dr: the amortised D_r only)")
        parser.add_argument("--optimise-steps", type=int, default=100, help="steps of the optimised D_r")
        parser.add_argument("--progress-every", type=float, default=10.0,
                            help="seconds between progress lines while training and generating")
        parser.add_argument("--annotators", type=int, default=9, help="demo annotator accounts demo1..N")
        parser.add_argument("--password", default="", help="for the demo accounts (default: $DEMO_PASSWORD, else $ANNOTATOR_PASSWORD, else generated for new ones)")

    def handle(self, *args, **opts) -> None:
        model = self.model(opts)
        job = self.job(model, opts)
        pool = job.pools.filter(name=DEMO_POOL).first() or self.pool(job, opts)
        users, password = self.annotators(opts["annotators"], opts["password"])
        # The accounts that bin/run creates (annotator1..N) take part too.
        users += [u for u in User.objects.filter(groups__name=ANNOTATORS) if re.fullmatch(r"annotator\d+", u.username)]
        # The paper's 9 votes per image, or fewer when fewer annotators take part (so every image can complete).
        campaign, created = Campaign.objects.get_or_create(
            name=DEMO_CAMPAIGN, defaults={"pool": pool, "priming_count": 64, "annotators_per_image": min(9, len(users)) or 9}
        )
        campaign.annotators.add(*users)
        n = ensure_slots(campaign)
        self.stdout.write(f"campaign: {campaign.name} (id {campaign.pk}, {'new' if created else 'existing'}, "
                          f"{n} images, {'open' if campaign.is_open else 'closed'})")
        shown = password or "(unchanged)"
        if opts["annotators"]:
            self.stdout.write(f"demo annotators: demo1..demo{opts['annotators']} / {shown}")
        self.stdout.write("annotators log in at /accounts/login/ and label at /annotate/")

    def model(self, opts) -> TrainedModel:
        from generation import services

        model = TrainedModel.objects.filter(name=DEMO_MODEL).first()
        if model is None:
            model = TrainedModel.objects.create(
                name=DEMO_MODEL, dataset=opts["dataset"], folder_path=opts["folder"], epochs=opts["epochs"],
                train_limit=opts["limit"],
            )
        if not model.is_ready:
            self.restart(model)
            images = f"{model.train_limit:,}" if model.train_limit else "all"
            self.stdout.write(f"training {model.dataset_name} ({images} images, {model.epochs} epochs, "
                              f"batch {opts['batch_size']})...")
            with self.reporting(model, "training", opts["progress_every"]):
                services.train_model(model.pk, batch_size=opts["batch_size"],
                                     classifier_limit=opts["classifier_limit"] or None)
            model.refresh_from_db()
            if not model.is_ready:
                raise CommandError(f"training failed: {model.error or model.status}")
        self.stdout.write(f"model: {model} (id {model.pk})")
        return model

    def job(self, model: TrainedModel, opts) -> GenerationJob:
        import creative_core as cc
        from generation import services

        job = model.jobs.order_by("pk").first()
        if job is None:
            job = GenerationJob.objects.create(
                trained_model=model, schemes={name: {} for name in cc.SCHEME_NAMES},
                samples_per_scheme=opts["samples"], optimise_dr=opts["optimise_dr"],
                optimise_steps=opts["optimise_steps"],
            )
        if job.status != JobStatus.SUCCEEDED:
            self.restart(job)
            optimised = f", optimised D_r with {job.optimise_steps} steps" if job.optimise_dr else ""
            self.stdout.write(f"generating {job.samples_per_scheme} samples per scheme and measuring them "
                              f"(surrogate metrics, amortised D_r{optimised})...")
            with self.reporting(job, "generation", opts["progress_every"]):
                services.run_job(job.pk)
            job.refresh_from_db()
            if job.status != JobStatus.SUCCEEDED:
                raise CommandError(f"the job failed: {job.error or job.status}")
        self.stdout.write(f"job: {job} (id {job.pk})")
        return job

    def pool(self, job: GenerationJob, opts) -> SamplePool:
        from generation import services

        self.stdout.write(f"building a pool of {opts['per_scheme']} images per scheme...")
        return services.build_pool(job, per_scheme=opts["per_scheme"], seed=0, name=DEMO_POOL,
                                   attention_checks=opts["attention_checks"], attention_kind=opts["attention_kind"],
                                   accept_spottable_checks=opts["accept_spottable_checks"])

    @contextmanager
    def reporting(self, row: TrainedModel | GenerationJob, what: str, every: float):
        """A line every `every` seconds with the row's progress (as its worker code writes it), elapsed time and
        an estimate of the time left, while the block runs."""
        stop = threading.Event()
        start = time.monotonic()

        def watch() -> None:
            from django.db import connection

            try:
                while not stop.wait(every):
                    progress = type(row).objects.filter(pk=row.pk).values_list("progress", flat=True).first()
                    if progress is not None:
                        self.stdout.write(f"  {what}: {progress_line(progress, time.monotonic() - start)}")
                        self.stdout.flush()
            finally:
                connection.close()

        watcher = threading.Thread(target=watch, name=f"demo {what} progress", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            stop.set()
            watcher.join()
        self.stdout.write(f"  {what}: done in {duration(time.monotonic() - start)}")

    def restart(self, row: TrainedModel | GenerationJob) -> None:
        """A failed or interrupted earlier run starts again from the queue."""
        if row.status != JobStatus.QUEUED:
            type(row).objects.filter(pk=row.pk).update(status=JobStatus.QUEUED, progress=0.0, error="")
            row.refresh_from_db()

    def annotators(self, n: int, password: str) -> tuple[list[User], str]:
        group = Group.objects.get_or_create(name=ANNOTATORS)[0]
        password = password or os.environ.get("DEMO_PASSWORD") or os.environ.get("ANNOTATOR_PASSWORD", "")
        shared = password or secrets.token_urlsafe(9)
        shown = ""
        users = []
        for i in range(1, n + 1):
            user, created = User.objects.get_or_create(username=f"demo{i}")
            if password or created or not user.has_usable_password():
                user.set_password(shared)
                user.save()
                shown = shared
            user.groups.add(group)
            users.append(user)
        return users, shown


def duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def progress_line(progress: float, elapsed: float) -> str:
    """"37% after 1 min 20 s, about 2 min 16 s left" (no estimate before 3%: too early to tell)."""
    line = f"{100 * progress:.0f}% after {duration(elapsed)}"
    if 0.03 <= progress < 1:
        line += f", about {duration(elapsed * (1 - progress) / progress)} left"
    return line

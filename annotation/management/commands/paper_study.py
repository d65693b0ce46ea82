"""`manage.py paper_study --model ID`: the paper's human study, set up on one trained model and ready to launch.

The protocol of the paper's Table 1 (human-judgement columns): about 500 images across the schemes (the four of
Table 1 and the interpolation baseline, 100 each), 9 annotators per image, a label counts when 3 of 9 agree,
attention checks mixed in, and the campaign's report settings as their defaults, which pre-register the primary
hypothesis "low-active has a higher share of images labelled creative than each baseline". It ends with a study
link for a participant panel, inactive until the researcher has read the campaign and activated it in the admin.

Idempotent like `demo`: what a first run made is found by name and reused.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from annotation.models import Campaign, Panel, StudyLink
from annotation.services import ensure_slots
from generation.models import AttentionKind, GenerationJob, JobStatus, SamplePool, TrainedModel

PAPER_SCHEMES = ("regular", "noisy", "random_flip", "low_active", "interpolation")


class Command(BaseCommand):
    help = "Set up the paper's human study on a trained model: job, 500-image pool, campaign (9 votes, 3 of 9), study link."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--model", required=True, help="the trained model: its id or its name")
        parser.add_argument("--per-scheme", type=int, default=100, help="images per scheme in the pool (default 100: "
                            "500 images over the five schemes)")
        parser.add_argument("--samples", type=int, default=1000, help="samples per scheme the job generates")
        parser.add_argument("--attention-checks", type=int, help="default: one image in twenty")
        parser.add_argument("--attention-kind", default=AttentionKind.RECONSTRUCTION,
                            choices=[k.value for k in AttentionKind])
        parser.add_argument("--accept-spottable-checks", action="store_true",
                            help="build the pool even when image statistics tell its attention checks apart (the "
                                 "report says so)")
        parser.add_argument("--quota", type=int, default=50, help="images per participant")
        parser.add_argument("--panel", default=Panel.PROLIFIC, choices=[p.value for p in Panel])
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the site's address, for the link")

    def handle(self, *args, **opts) -> None:
        model = self.model(opts["model"])
        job = self.job(model, opts)
        name = f"Paper study: {model.name}"
        pool = job.pools.filter(name=name).first() or self.pool(job, name, opts)
        campaign, created = Campaign.objects.get_or_create(
            name=name, defaults={"pool": pool, "annotators_per_image": 9, "priming_count": 64, "is_open": True})
        images = ensure_slots(campaign)
        link, _ = StudyLink.objects.get_or_create(
            campaign=campaign, defaults={"panel": opts["panel"], "quota": opts["quota"], "is_active": False})
        self.stdout.write(f"campaign: {campaign} (id {campaign.pk}, {'new' if created else 'existing'}): "
                          f"{images} images, {campaign.annotators_per_image} annotators per image, "
                          f"a label counts when {campaign.report_threshold()} agree")
        needed = -(-images * campaign.annotators_per_image // link.quota)
        self.stdout.write(f"about {needed} participants at {link.quota} images each give every image its 9 votes")
        url = opts["base_url"].rstrip("/") + reverse("annotation:study", args=[link.link_id, link.secret])
        self.stdout.write(f"study link (inactive until you activate it in the admin): {url}")
        self.stdout.write(f"read the campaign and its pre-registration first: "
                          f"{opts['base_url'].rstrip('/')}/admin/annotation/campaign/{campaign.pk}/change/")

    def model(self, key: str) -> TrainedModel:
        model = (TrainedModel.objects.filter(pk=int(key)).first() if key.isascii() and key.isdigit()
                 else TrainedModel.objects.filter(name=key).first())
        if model is None:
            raise CommandError(f"no trained model {key!r} (give its id or its name)")
        if not model.is_ready:
            raise CommandError(f"the model {model} is not ready (training {model.get_status_display().lower()})")
        return model

    def job(self, model: TrainedModel, opts) -> GenerationJob:
        from generation import services

        schemes = {name: {} for name in PAPER_SCHEMES}
        job = model.jobs.filter(schemes=schemes, seed=opts["seed"], status=JobStatus.SUCCEEDED).order_by("pk").first()
        if job is None:
            job = GenerationJob.objects.create(trained_model=model, schemes=schemes, seed=opts["seed"],
                                               samples_per_scheme=opts["samples"], optimise_dr=False)
            self.stdout.write(f"generating {job.samples_per_scheme} samples of each of {len(schemes)} schemes...")
            services.run_job(job.pk)
            job.refresh_from_db()
            if job.status != JobStatus.SUCCEEDED:
                raise CommandError(f"the job failed: {job.error or job.status}")
        self.stdout.write(f"job: {job} (id {job.pk})")
        return job

    def pool(self, job: GenerationJob, name: str, opts) -> SamplePool:
        from generation import services

        per_scheme = opts["per_scheme"]
        checks = opts["attention_checks"]
        if checks is None:
            checks = max(1, per_scheme * len(PAPER_SCHEMES) // 20)
        self.stdout.write(f"building a pool of {per_scheme} images per scheme and {checks} attention checks...")
        try:
            return services.build_pool(job, per_scheme=per_scheme, seed=opts["seed"], name=name,
                                       attention_checks=checks, attention_kind=opts["attention_kind"],
                                       accept_spottable_checks=opts["accept_spottable_checks"])
        except services.JobError as exc:
            raise CommandError(str(exc)) from exc


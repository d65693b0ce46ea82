"""The study dashboard on the admin index: each trained model, its jobs, their pools and the pools' campaigns,
with status, progress and the next step a researcher takes (the data flows one way, so does the page)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Prefetch
from django.urls import reverse

from annotation.models import Campaign, StudyLink
from evaluation.models import ReportSettings
from generation.models import GenerationJob, JobStatus, PoolBuild, SamplePool, TrainedModel

SHOWN_MODELS = 20  # the newest; older ones are in the lists


@dataclass
class Row:
    depth: int  # 0 model, 1 job, 2 pool, 3 campaign, 4 its study link
    kind: str
    name: str
    url: str
    status: str
    progress: float | None = None  # 0..1, drawn as a bar
    progress_text: str = ""
    action: str = ""
    action_url: str = ""


def _work_row(depth: int, kind: str, row: TrainedModel | GenerationJob | PoolBuild, url: str) -> Row:
    status = row.get_status_display()
    out = Row(depth, kind, str(row), url, status)
    if row.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        out.progress, out.progress_text = row.progress, f"{round(100 * row.progress)}%"
        out.action = "Wait for the worker"
    elif row.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        out.action, out.action_url = "See why, then relaunch it or copy it", url
    return out


def _model_rows(model: TrainedModel) -> list[Row]:
    row = _work_row(0, "Model", model, reverse("admin:generation_trainedmodel_change", args=[model.pk]))
    if model.is_ready:
        row.action = "Run a generation job" if not model.jobs.all() else "Run another job"
        row.action_url = reverse("admin:generation_generationjob_add") + f"?trained_model={model.pk}"
    rows = [row]
    for job in model.jobs.all():
        rows += _job_rows(job)
    return rows


def _job_rows(job: GenerationJob) -> list[Row]:
    row = _work_row(1, "Job", job, reverse("admin:generation_generationjob_change", args=[job.pk]))
    row.name = f"Job {job.pk}: {job.samples_per_scheme:,} per scheme"
    # Builds that have not (yet) made a pool: running ones to wait for, failed ones to read.
    builds = [b for b in job.pool_builds.all() if b.status != JobStatus.SUCCEEDED]
    if job.status == JobStatus.SUCCEEDED and not job.pools.all() and not any(b.is_active for b in builds):
        row.action = "Build a sample pool"
        row.action_url = reverse("admin:generation_generationjob_pool", args=[job.pk])
    rows = [row]
    for build in builds:
        rows.append(_work_row(2, "Pool build", build, reverse("admin:generation_poolbuild_change", args=[build.pk])))
        if build.status in (JobStatus.FAILED, JobStatus.CANCELLED):
            rows[-1].action = "See why, then build the pool again"
    for pool in job.pools.all():
        rows += _pool_rows(pool)
    return rows


def _pool_rows(pool: SamplePool) -> list[Row]:
    row = Row(2, "Pool", pool.name, reverse("admin:generation_samplepool_change", args=[pool.pk]),
              f"{pool.n_items} images")
    campaigns = list(pool.campaigns.all())
    if not campaigns:
        row.action, row.action_url = "Open a campaign", reverse("admin:annotation_campaign_add") + f"?pool={pool.pk}"
    rows = [row]
    for campaign in campaigns:
        rows.append(_campaign_row(campaign, pool.n_items))
        link = getattr(campaign, "study_link", None)  # None when it has none
        if link is not None:
            rows.append(_study_link_row(campaign, link))
    return rows


def _study_link_row(campaign: Campaign, link: StudyLink) -> Row:
    """One line on the campaign's panel participants: how many came, finished, failed checks, found no work."""
    from evaluation.participants import summary

    n = summary(campaign)
    status = "Revoked" if not link.is_active else ("Full: closed itself" if link.full_since else "Open")
    text = (f"{n['started']} started · {n['finished']} finished · {n['failed_checks']} failed checks · "
            f"{n['no_work']} found no work")
    return Row(4, "Study link", f"{link.get_panel_display().split(' (')[0]} participants",
               reverse("evaluation:participants", args=[campaign.pk]), status, progress_text=text,
               action="See the participants", action_url=reverse("evaluation:participants", args=[campaign.pk]))


def _campaign_row(campaign: Campaign, n_items: int) -> Row:
    wanted = n_items * campaign.annotators_per_image
    done = campaign.n_labels
    status = "Open" if campaign.is_open else "Closed"
    if done >= wanted > 0:
        status = "Complete" + ("" if not campaign.is_open else " (still open)")
    try:
        report_settings = campaign.report_settings  # joined in by study_rows
    except ReportSettings.DoesNotExist:
        report_settings = ReportSettings(campaign=campaign)
    if report_settings.consensus_problem():
        status += " · no consensus possible: see the report"
    return Row(3, "Campaign", campaign.name, reverse("admin:annotation_campaign_change", args=[campaign.pk]), status,
               progress=done / wanted if wanted else 0.0, progress_text=f"{done} / {wanted} labels",
               action="Open the report", action_url=reverse("evaluation:report", args=[campaign.pk]))


def study_rows(limit: int = SHOWN_MODELS) -> list[Row]:
    campaigns = Campaign.objects.annotate(n_labels=Count("labels")).select_related(
        "report_settings", "study_link").order_by(
        "created_at")
    pools = SamplePool.objects.annotate(n_items=Count("items")).order_by("created_at").prefetch_related(
        Prefetch("campaigns", queryset=campaigns))
    builds = PoolBuild.objects.order_by("created_at")
    jobs = GenerationJob.objects.order_by("created_at").prefetch_related(Prefetch("pools", queryset=pools),
                                                                         Prefetch("pool_builds", queryset=builds))
    models = TrainedModel.objects.order_by("-created_at").prefetch_related(Prefetch("jobs", queryset=jobs))[:limit]
    rows: list[Row] = []
    for model in models:
        rows += _model_rows(model)
    return rows


@dataclass
class DemoStatus:
    """The demo that bin/run prepares in the background, while it is not finished: which step, how far."""

    step: int
    steps: int
    what: str
    progress: float | None
    stopped: str = ""  # why it stopped, when it did (then the page stops refreshing)

    @property
    def percent(self) -> str:
        return "" if self.progress is None else f"{round(100 * self.progress)}%"


def demo_status() -> DemoStatus | None:
    """None when there is no demo or it is ready (its campaign exists)."""
    from annotation.management.commands.demo import DEMO_CAMPAIGN, DEMO_MODEL

    model = TrainedModel.objects.filter(name=DEMO_MODEL).order_by("pk").first()
    if model is None or Campaign.objects.filter(name=DEMO_CAMPAIGN).exists():
        return None
    job = model.jobs.order_by("pk").first()
    if model.status != JobStatus.SUCCEEDED:
        row, status = model, DemoStatus(1, 3, "Training the demo model", model.progress)
    elif job is None or job.status != JobStatus.SUCCEEDED:
        row = job
        status = DemoStatus(2, 3, "Generating the demo job's samples and measuring them",
                            job.progress if job else 0.0)
    else:
        return DemoStatus(3, 3, "Building the demo pool and opening its campaign", None)
    if row is not None and row.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        status.stopped = row.error or row.get_status_display()
    return status

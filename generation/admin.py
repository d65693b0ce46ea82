"""The researchers' side: train models and run generation jobs, watch them, cancel, relaunch, preview, download.

Only researchers (config.roles) see any of it, whatever their model permissions: provenance is in every page.
"""

from __future__ import annotations

import base64
import json

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from config.admin import FreezingAdmin, ResearchersOnlyAdmin
from config.roles import is_researcher

from . import services
from .forms import JobForm, PoolForm
from .models import (
    MEASURED_FIELDS,
    SURROGATE_FIELDS,
    GenerationJob,
    JobStatus,
    PoolBuild,
    PoolItem,
    Sample,
    SamplePool,
    TrainedModel,
)

# "status" and "progress" are shown once, by the live bar (progress_display), so the page never says two things.
WORKER_FIELDS = ["progress_display", "error", "device", "task_id", "heartbeat_at", "started_at", "finished_at"]
KINDS = {GenerationJob: "job", TrainedModel: "model", PoolBuild: "build"}


class ResearchersOnly(ResearchersOnlyAdmin):
    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Only rows no worker holds: deleting a running job would leave its worker writing to nothing.
        return is_researcher(request.user) and (obj is None or not getattr(obj, "is_active", False))


def progress_bar(row: TrainedModel | GenerationJob | PoolBuild, reload: bool = False) -> str:
    """The row's status and progress, kept live by progress.js from /generation/progress/ (one source for both).
    With reload, the page reloads once the row ends, to show what it made."""
    return format_html(
        '<span class="gen-progress" data-kind="{}" data-id="{}" data-url="{}" data-status="{}"{}>'
        '<progress value="{}" max="1"></progress> <span class="gen-status">{} {}%</span></span>',
        KINDS[type(row)], row.pk, reverse("generation:progress"), row.status,
        mark_safe(' data-reload="1"') if reload else "", row.progress, row.get_status_display(),
        round(100 * row.progress),
    )


class Launchable(ResearchersOnly):
    """Shared actions: launch (or relaunch) and cancel; a new row is launched when saved."""

    actions = ["launch", "cancel"]
    launch_service = "launch_job"

    class Media:
        js = ["generation/progress.js"]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        services.fail_stale_work()  # a row whose worker vanished shows as failed, ready to relaunch
        return super().changelist_view(request, extra_context)

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        services.fail_stale_work()
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="Status")
    def progress_display(self, obj) -> str:
        return progress_bar(obj, reload=True)

    def save_model(self, request: HttpRequest, obj, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if not change:
            self._launch_one(request, obj)

    def _launch_one(self, request: HttpRequest, obj) -> bool:
        try:
            getattr(services, self.launch_service)(obj)
        except services.JobError as exc:
            self.message_user(request, f"{obj}: {exc}", messages.ERROR)
            return False
        return True

    @admin.display(description="Progress")
    def list_progress(self, obj) -> str:
        return progress_bar(obj)

    @admin.action(description="Launch (or relaunch) the selected rows")
    def launch(self, request: HttpRequest, queryset: QuerySet) -> None:
        launched = sum(self._launch_one(request, obj) for obj in queryset)
        if launched:
            self.message_user(request, f"Launched {launched}.", messages.SUCCESS)

    @admin.action(description="Cancel the selected rows")
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        cancelled = sum(services.cancel(obj) for obj in queryset)
        self.message_user(request, f"Cancelled {cancelled} (rows that had ended are left as they were).",
                          messages.SUCCESS if cancelled else messages.WARNING)

    def _row_action(self, request: HttpRequest, pk: int, action: str) -> HttpResponse:
        obj = get_object_or_404(self.model, pk=pk)
        if request.method != "POST" or not self.has_change_permission(request, obj):
            raise Http404
        if action == "cancel":
            done = services.cancel(obj)
            self.message_user(request, "Cancelled." if done else "It had already ended.",
                              messages.SUCCESS if done else messages.WARNING)
        elif self._launch_one(request, obj):
            self.message_user(request, "Launched.", messages.SUCCESS)
        info = self.model._meta.app_label, self.model._meta.model_name
        return HttpResponseRedirect(reverse("admin:{}_{}_change".format(*info), args=[pk]))

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        wrap = self.admin_site.admin_view
        return [
            path("<int:pk>/launch/", wrap(lambda r, pk: self._row_action(r, pk, "launch")), name="{}_{}_launch".format(*info)),
            path("<int:pk>/cancel/", wrap(lambda r, pk: self._row_action(r, pk, "cancel")), name="{}_{}_cancel".format(*info)),
            *self.extra_urls(wrap, info),
            *super().get_urls(),
        ]

    def extra_urls(self, wrap, info) -> list:
        return []


@admin.register(TrainedModel)
class TrainedModelAdmin(FreezingAdmin, Launchable):
    launch_service = "launch_training"
    copy_fields = ("name", *TrainedModel.frozen_fields)
    list_display = ["name", "dataset", "architecture", "epochs", "list_progress", "device", "created_at"]
    list_filter = ["status", "dataset"]
    search_fields = ["name"]
    readonly_fields = [*WORKER_FIELDS, "checkpoint_file", "classifier_file", "metrics"]
    fieldsets = [
        (None, {"fields": ["name", "dataset", "folder_path", "architecture", "latent_dim", "epochs", "seed",
                           "train_limit", "profile_layer"]}),
        ("Worker", {"fields": [*WORKER_FIELDS, "checkpoint_file", "classifier_file", "metrics"]}),
    ]

    @admin.display(description="Checkpoint")
    def checkpoint_file(self, obj: TrainedModel) -> str:
        # The media folder is not served (it holds the pools' blinded files): name the file, link to nothing.
        return obj.checkpoint.name if obj.checkpoint else "-"

    @admin.display(description="Classifier (surrogate metrics)")
    def classifier_file(self, obj: TrainedModel) -> str:
        info = obj.metrics.get("classifier") or {}
        if not obj.classifier:
            return f"none: {info['none']}" if "none" in info else "- (its first job trains one)"
        accuracy = info.get("test_accuracy")
        shown = f" ({info.get('dataset')}, test accuracy {accuracy:.1%})" if accuracy is not None else ""
        return obj.classifier.name + shown

    def get_fieldsets(self, request, obj=None):
        return self.fieldsets if obj is not None else self.fieldsets[:1]  # nothing has run yet on the add form


@admin.register(GenerationJob)
class GenerationJobAdmin(FreezingAdmin, Launchable):
    form = JobForm
    copy_fields = tuple(JobForm.Meta.fields)
    list_display = ["__str__", "samples_per_scheme", "scheme_list", "list_progress", "device", "created_at"]
    list_filter = ["status"]
    readonly_fields = [*WORKER_FIELDS, "timing_text", "results_link", "summary_raw"]
    change_form_template = "admin/generation/generationjob/change_form.html"

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        initial = super().get_changeform_initial_data(request)
        if "trained_model" not in initial:
            ready = list(TrainedModel.objects.filter(status=JobStatus.SUCCEEDED).exclude(checkpoint="")[:2])
            if len(ready) == 1:  # the only trained model: preselected
                initial["trained_model"] = ready[0].pk
        return initial

    @admin.display(description="Results")
    def results_link(self, obj: GenerationJob) -> str:
        if not obj.results:
            return "–"
        return format_html('<a href="{}" download>results.npz</a> (every sample: scheme, index, units, noise seed, '
                           "z, D_r; numpy's .npz)", reverse("generation:results", args=[obj.pk]))

    @admin.display(description="Timings")
    def timing_text(self, obj: GenerationJob) -> str:
        if not obj.timings:
            return "–"
        return " · ".join(f"{step.replace('_', ' ')} {seconds:.1f} s" for step, seconds in obj.timings.items())

    @admin.display(description="Summary")
    def summary_raw(self, obj: GenerationJob) -> str:
        """Every stored figure per scheme, folded away: the tables below show the ones a reader compares."""
        if not obj.summary:
            return "–"
        return format_html("<details><summary>Every figure per scheme (JSON, as stored)</summary><pre>{}</pre>"
                           "</details>", json.dumps(obj.summary, indent=2))

    @admin.display(description="Schemes")
    def scheme_list(self, obj: GenerationJob) -> str:
        return ", ".join(obj.schemes)

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # nothing has run yet
            return [(None, {"fields": JobForm.Meta.fields})]
        return [(None, {"fields": JobForm.Meta.fields}),
                ("Worker", {"fields": [*WORKER_FIELDS, "timing_text", "results_link", "summary_raw"]})]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update({"job": obj, "summary": services.job_scheme_dr(obj), "pools": obj.pools.all(),
                            "pool_builds": obj.pool_builds.exclude(status=JobStatus.SUCCEEDED),
                            "surrogates": _surrogate_means(obj)})
        return super().render_change_form(request, context, add, change, form_url, obj)

    def extra_urls(self, wrap, info) -> list:
        return [
            path("<int:pk>/preview/<str:scheme>.png", wrap(self.preview_view), name="{}_{}_preview".format(*info)),
            path("<int:pk>/pairs/<str:left>/<str:right>.png", wrap(self.pairs_view), name="{}_{}_pairs".format(*info)),
            path("<int:pk>/download.zip", wrap(self.download_view), name="{}_{}_download".format(*info)),
            path("<int:pk>/pool/", wrap(self.pool_view), name="{}_{}_pool".format(*info)),
        ]

    def _job(self, request: HttpRequest, pk: int) -> GenerationJob:
        job = get_object_or_404(GenerationJob, pk=pk)
        if not self.has_view_permission(request, job):
            raise Http404
        return job

    def preview_view(self, request: HttpRequest, pk: int, scheme: str) -> HttpResponse:
        job = self._job(request, pk)
        try:
            png = services.preview_grid(job, scheme, count=int(request.GET.get("n", 64)))
        except (services.JobError, ValueError) as exc:
            return HttpResponse(str(exc), status=409, content_type="text/plain")
        return HttpResponse(png, content_type="image/png", headers={"Cache-Control": "private, no-store"})

    def pairs_view(self, request: HttpRequest, pk: int, left: str, right: str) -> HttpResponse:
        job = self._job(request, pk)
        try:
            png = services.paired_grid(job, left, right)
        except services.JobError as exc:
            return HttpResponse(str(exc), status=409, content_type="text/plain")
        return HttpResponse(png, content_type="image/png", headers={"Cache-Control": "private, no-store"})

    def download_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = self._job(request, pk)
        response = HttpResponse(content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="job-{job.pk}-samples.zip"'
        try:
            services.write_archive(job, response)
        except services.JobError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:generation_generationjob_change", args=[pk]))
        return response

    def pool_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The pool form; a valid request becomes a PoolBuild row and a task on the "default" queue."""
        job = self._job(request, pk)
        form = PoolForm(request.POST or None, job=job)
        if request.method == "POST" and form.is_valid():
            try:
                build = services.launch_pool_build(job, user=request.user, **form.cleaned_data)
            except services.JobError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"{build} is queued: this page follows it; the pool appears when it "
                                  "succeeds.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:generation_poolbuild_change", args=[build.pk]))
        context = {**self.admin_site.each_context(request), "job": job, "form": form, "opts": self.model._meta,
                   "title": f"Build a sample pool from {job}"}
        return TemplateResponse(request, "admin/generation/generationjob/pool.html", context)


class PoolItemInline(admin.TabularInline):
    model = PoolItem
    fields = ["position", "public_id", "sample", "scheme", "is_attention_check"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["position"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Scheme")
    def scheme(self, obj: PoolItem) -> str:
        if obj.scheme:
            return obj.scheme
        return f"attention check ({obj.check_kind})" if obj.check_kind else "attention check"


@admin.register(SamplePool)
class SamplePoolAdmin(ResearchersOnly):
    list_display = ["name", "job", "per_scheme", "attention_kind", "separability", "seed", "created_at"]
    readonly_fields = ["job", "per_scheme", "attention_kind", "check_quality_text", "seed", "novelty", "created_at"]
    fields = ["name", *readonly_fields]

    @admin.display(description="Novelty")
    def novelty(self, obj) -> str:
        return obj.job.matching_text()
    inlines = [PoolItemInline]

    @admin.display(description="Checks' separability")
    def separability(self, obj: SamplePool) -> str:
        value = (obj.check_quality or {}).get("separability")
        return "-" if value is None else f"{value:.2f}"

    @admin.display(description="Can the checks be spotted?")
    def check_quality_text(self, obj: SamplePool) -> str:
        from evaluation.collection import check_quality_sentence

        return check_quality_sentence(obj) or "Not measured (a pool without attention checks, or built before)."

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # built from a job's page, where the samples are drawn


@admin.register(PoolBuild)
class PoolBuildAdmin(ResearchersOnly):
    """Pool builds are made by "Build a sample pool" on a job's page; here they are followed and cancelled."""

    list_display = ["__str__", "job", "per_scheme", "attention_checks", "attention_kind", "seed", "list_progress",
                    "created_by", "created_at"]
    list_filter = ["status"]
    readonly_fields = ["job", "progress_display", "pool_link", "error", "name", "per_scheme", "attention_checks",
                       "attention_kind", "accept_spottable_checks", "seed", "created_by", "created_at", "device", "task_id", "heartbeat_at", "started_at",
                       "finished_at"]
    fields = readonly_fields
    change_form_template = "admin/generation/poolbuild/change_form.html"

    class Media:
        js = ["generation/progress.js"]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        services.fail_stale_work()
        return super().changelist_view(request, extra_context)

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        services.fail_stale_work()
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # nothing to edit; the page is the build's view (and its Cancel button)

    @admin.display(description="Status")
    def progress_display(self, obj: PoolBuild) -> str:
        return progress_bar(obj, reload=True)

    @admin.display(description="Progress")
    def list_progress(self, obj: PoolBuild) -> str:
        return progress_bar(obj)

    @admin.display(description="Pool")
    def pool_link(self, obj: PoolBuild) -> str:
        if obj.pool_id is None:
            return "– (made when the build succeeds)"
        return format_html('<a href="{}">{}</a>', reverse("admin:generation_samplepool_change", args=[obj.pool_id]),
                           obj.pool)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["build"] = obj
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [path("<int:pk>/cancel/", wrap(self.cancel_view), name="generation_poolbuild_cancel"),
                *super().get_urls()]

    def cancel_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        build = get_object_or_404(PoolBuild, pk=pk)
        if request.method != "POST" or not self.has_view_permission(request, build):
            raise Http404
        done = services.cancel(build)
        self.message_user(request, "Cancelled: nothing of it is kept." if done else "It had already ended.",
                          messages.SUCCESS if done else messages.WARNING)
        return HttpResponseRedirect(reverse("admin:generation_poolbuild_change", args=[pk]))


SURROGATE_SHOWN = {"entropy": "Entropy (nats)", "top_probability": "Top probability",
                   "out_of_class_max": "Out-of-class max", "out_of_class_count": "Out-of-class count",
                   "nn_pixels": "Nearest training image (pixels)", "nn_features": "Nearest training image (features)"}


def _surrogate_means(job: GenerationJob) -> dict | None:
    """{"names": shown names, "rows": [(scheme, [mean or None, ...])]} from the job's summary (None before any)."""
    rows = [(scheme, [v.get(f"{name}_mean") for name in SURROGATE_FIELDS])
            for scheme, v in services.jobs.ordered_summary(job).items()]
    if not any(m is not None for _, means in rows for m in means):
        return None
    return {"names": [SURROGATE_SHOWN[n] for n in SURROGATE_FIELDS], "rows": rows}


@admin.register(Sample)
class SampleAdmin(ResearchersOnly):
    list_display = ["public_id", "job", "scheme", "index", "dr_amortised", "dr_optimised"]
    list_filter = ["scheme"]
    search_fields = ["public_id"]
    readonly_fields = ["job", "public_id", "picture", "scheme", "index", "units", "noise_seed", "z", *MEASURED_FIELDS]
    fields = readonly_fields

    @admin.display(description="Image")
    def picture(self, obj: Sample):
        # Shown inline: the media folder is not served (it holds the pools' blinded files).
        if not obj.image:
            return "-"
        try:
            with obj.image.open("rb") as handle:
                data = base64.b64encode(handle.read()).decode("ascii")
        except OSError:
            return f"{obj.image.name} (missing from storage)"
        return format_html('<img src="data:image/png;base64,{}" alt="sample {}" width="112" '
                           'style="image-rendering: pixelated"> {}', data, obj.public_id, obj.image.name)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

"""The researchers' side: train models and run generation jobs, watch them, cancel, relaunch, preview, download.

Only researchers (config.roles) see any of it, whatever their model permissions: provenance is in every page.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from config.admin import FreezingAdmin, ResearchersOnlyAdmin
from config.roles import is_researcher

from . import services
from .models import AttentionKind, GenerationJob, PoolItem, Sample, SamplePool, TrainedModel

WORKER_FIELDS = ["status", "progress", "error", "device", "task_id", "heartbeat_at", "started_at", "finished_at"]


class ResearchersOnly(ResearchersOnlyAdmin):
    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Only rows no worker holds: deleting a running job would leave its worker writing to nothing.
        return is_researcher(request.user) and (obj is None or not getattr(obj, "is_active", False))


def progress_bar(row: TrainedModel | GenerationJob) -> str:
    kind = "job" if isinstance(row, GenerationJob) else "model"
    return format_html(
        '<span class="gen-progress" data-kind="{}" data-id="{}" data-url="{}">'
        '<progress value="{}" max="1"></progress> <span class="gen-status">{} {}%</span></span>',
        kind, row.pk, reverse("generation:progress"), row.progress, row.get_status_display(), round(100 * row.progress),
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

    @admin.display(description="Progress")
    def progress_display(self, obj) -> str:
        return progress_bar(obj)

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
    list_display = ["name", "dataset", "architecture", "epochs", "progress_display", "device", "created_at"]
    list_filter = ["status", "dataset"]
    search_fields = ["name"]
    readonly_fields = ["progress_display", *WORKER_FIELDS, "checkpoint", "metrics"]
    fieldsets = [
        (None, {"fields": ["name", "dataset", "folder_path", "architecture", "latent_dim", "epochs", "seed",
                           "train_limit", "profile_layer"]}),
        ("Worker", {"fields": ["progress_display", *WORKER_FIELDS, "checkpoint", "metrics"]}),
    ]


class JobForm(forms.ModelForm):
    class Meta:
        model = GenerationJob
        fields = ["trained_model", "layer", "schemes", "samples_per_scheme", "seed", "optimise_dr", "optimise_steps",
                  "write_all_images"]

    def clean(self):
        data = super().clean()
        model = data.get("trained_model")
        if model is not None and model.is_ready and not self.errors:
            try:
                # The job as it would be saved (the instance itself is updated only after clean()).
                services.check_runnable(GenerationJob(**{k: v for k, v in data.items() if k in self.Meta.fields}))
            except services.JobError as exc:
                raise ValidationError(str(exc)) from exc
        return data


class PoolForm(forms.Form):
    per_scheme = forms.IntegerField(min_value=1, initial=125, help_text="Samples of each scheme in the pool.")
    attention_checks = forms.IntegerField(min_value=0, initial=0,
                                          help_text='Images mixed in whose expected label is "not novel or creative".')
    attention_kind = forms.ChoiceField(
        label="Attention checks show", choices=AttentionKind.choices, initial=AttentionKind.RECONSTRUCTION,
        required=False,  # a script that leaves it out gets the default
        help_text="Raw training images look sharper than generated ones, so annotators can spot them; "
                  "reconstructions of held-out images (encoder mean, regular decoding) look like the pool.",
    )
    seed = forms.IntegerField(initial=0)
    name = forms.CharField(required=False, max_length=200)

    def clean_attention_kind(self) -> str:
        return self.cleaned_data.get("attention_kind") or AttentionKind.RECONSTRUCTION


@admin.register(GenerationJob)
class GenerationJobAdmin(FreezingAdmin, Launchable):
    form = JobForm
    copy_fields = tuple(JobForm.Meta.fields)
    list_display = ["__str__", "samples_per_scheme", "scheme_list", "progress_display", "device", "created_at"]
    list_filter = ["status"]
    readonly_fields = [*WORKER_FIELDS, "timings", "results", "summary"]
    change_form_template = "admin/generation/generationjob/change_form.html"

    @admin.display(description="Schemes")
    def scheme_list(self, obj: GenerationJob) -> str:
        return ", ".join(obj.schemes)

    def get_fieldsets(self, request, obj=None):
        return [(None, {"fields": JobForm.Meta.fields}),
                ("Worker", {"fields": [*WORKER_FIELDS, "timings", "results", "summary"]})]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update({"job": obj, "summary": services.job_scheme_dr(obj), "pool_form": PoolForm(),
                            "progress": progress_bar(obj), "pools": obj.pools.all()})
        return super().render_change_form(request, context, add, change, form_url, obj)

    def extra_urls(self, wrap, info) -> list:
        return [
            path("<int:pk>/preview/<str:scheme>.png", wrap(self.preview_view), name="{}_{}_preview".format(*info)),
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
        job = self._job(request, pk)
        form = PoolForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                pool = services.build_pool(job, **form.cleaned_data)
            except services.JobError as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"Built {pool} with {pool.items.count()} images.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:generation_samplepool_change", args=[pool.pk]))
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
        return obj.scheme or "attention check"


@admin.register(SamplePool)
class SamplePoolAdmin(ResearchersOnly):
    list_display = ["name", "job", "per_scheme", "attention_kind", "seed", "created_at"]
    readonly_fields = ["job", "per_scheme", "attention_kind", "seed", "created_at"]
    fields = ["name", *readonly_fields]
    inlines = [PoolItemInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # built from a job's page, where the samples are drawn


@admin.register(Sample)
class SampleAdmin(ResearchersOnly):
    list_display = ["public_id", "job", "scheme", "index", "dr_amortised", "dr_optimised"]
    list_filter = ["scheme"]
    search_fields = ["public_id"]
    readonly_fields = ["job", "public_id", "image", "scheme", "index", "units", "noise_seed", "z", "dr_amortised",
                       "dr_optimised", "dr_converged"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

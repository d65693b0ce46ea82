"""Researchers' endpoints outside the admin: the progress polled by the admin pages, and a job's results file.

Only researchers get anything; anyone else gets 404 (provenance is in all of it)."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from config.roles import is_researcher

from . import services
from .models import GenerationJob, PoolBuild, TrainedModel

MAX_IDS = 200


def _ids(raw: str) -> list[int]:
    return [int(x) for x in raw.split(",") if x.strip().isdigit()][:MAX_IDS]


@require_GET
def progress(request: HttpRequest) -> JsonResponse:
    """?jobs=1,2&models=3&builds=4 -> {"jobs": [{id, status, progress, error, device, heartbeat_at}], "models": [...],
    "builds": [...]}."""
    if not is_researcher(request.user):
        raise Http404
    services.fail_stale_work()
    rows = {key: model.objects.filter(pk__in=_ids(request.GET.get(key, "")))
            for key, model in (("jobs", GenerationJob), ("models", TrainedModel), ("builds", PoolBuild))}
    return JsonResponse({key: services.progress_of(qs) for key, qs in rows.items()},
                        headers={"Cache-Control": "no-store"})


@require_GET
def results(request: HttpRequest, pk: int) -> FileResponse:
    """The job's results file (.npz: every sample's scheme, index, units, noise seed, z and D_r)."""
    if not is_researcher(request.user):
        raise Http404
    job = get_object_or_404(GenerationJob, pk=pk)
    if not job.results or not job.results.storage.exists(job.results.name):
        raise Http404("This job has no results file.")
    return FileResponse(job.results.open("rb"), as_attachment=True, filename=f"job-{job.pk}-results.npz",
                        content_type="application/octet-stream", headers={"Cache-Control": "private, no-store"})

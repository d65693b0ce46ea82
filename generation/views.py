"""Researchers' endpoints outside the admin: the progress polled by the admin pages, and a job's results file.

Only researchers get anything; anyone else gets 404 (provenance is in all of it)."""

from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from config.api_edge import Malformed, db_int
from config.roles import is_researcher

from . import services
from .models import GenerationJob, PoolBuild, TrainedModel

MAX_IDS = 200


def _ids(raw: str) -> list[int]:
    """Comma-separated ids in ASCII digits within bigint (str.isdigit() accepts "²", which int() refuses)."""
    parts = [x.strip() for x in raw.split(",") if x.strip()][:MAX_IDS]
    return [db_int(x, "an id", minimum=1) for x in parts]


@require_GET
def progress(request: HttpRequest) -> JsonResponse:
    """?jobs=1,2&models=3&builds=4 -> {"jobs": [{id, status, progress, error, device, heartbeat_at}], "models": [...],
    "builds": [...]}."""
    if not is_researcher(request.user):
        raise Http404
    services.fail_stale_work()
    try:
        rows = {key: model.objects.filter(pk__in=_ids(request.GET.get(key, "")))
                for key, model in (("jobs", GenerationJob), ("models", TrainedModel), ("builds", PoolBuild))}
    except Malformed as exc:
        return JsonResponse({"error": "malformed", "detail": str(exc.detail)}, status=400)
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

"""The progress endpoint polled by the admin pages (researchers only; anyone else gets 404)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from config.roles import is_researcher

from . import services
from .models import GenerationJob, TrainedModel

MAX_IDS = 200


def _ids(raw: str) -> list[int]:
    return [int(x) for x in raw.split(",") if x.strip().isdigit()][:MAX_IDS]


@require_GET
def progress(request: HttpRequest) -> JsonResponse:
    """?jobs=1,2&models=3 -> {"jobs": [{id, status, progress, error, device, heartbeat_at}], "models": [...]}."""
    if not is_researcher(request.user):
        raise Http404
    services.fail_stale_work()
    jobs = GenerationJob.objects.filter(pk__in=_ids(request.GET.get("jobs", "")))
    models = TrainedModel.objects.filter(pk__in=_ids(request.GET.get("models", "")))
    return JsonResponse({"jobs": services.progress_of(jobs), "models": services.progress_of(models)},
                        headers={"Cache-Control": "no-store"})

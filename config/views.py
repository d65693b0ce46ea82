from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache

from .roles import is_researcher


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Researchers land in the admin, everyone else on their labeling page."""
    if is_researcher(request.user):
        return redirect("admin:index")
    return redirect("annotation:index")


@never_cache  # a cached "ok" would hide an outage from the load balancer
def health(request: HttpRequest) -> JsonResponse:
    """JSON on the database, the broker and the workers; 503 when any is down."""
    from .health import check_all

    report = check_all()
    return JsonResponse(report, status=200 if report["ok"] else 503)

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect

from .roles import is_researcher


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Researchers land in the admin, everyone else on their labeling page."""
    if is_researcher(request.user):
        return redirect("admin:index")
    return redirect("annotation:index")


def health(request: HttpRequest) -> JsonResponse:
    from .health import check_all

    report = check_all()
    return JsonResponse(report, status=200 if report["ok"] else 503)

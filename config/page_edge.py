"""What every request passes before any view: a NUL byte anywhere in the path or the query string is refused.

PostgreSQL stores no NUL in text, so such a value reaching a query (a study link's id, an admin list's filter, a
search) raised deep inside a view and answered 500. No page or API call needs one: refused here with a 400, an HTML
page for pages and the API's JSON refusal under /api/. The middleware also adds the Permissions-Policy header
(the Content-Security-Policy comes from django-csp, settings.CONTENT_SECURITY_POLICY).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.defaults import bad_request

from .api_edge import API_PREFIX, json_refusal


def has_nul(request: HttpRequest) -> bool:
    query = request.META.get("QUERY_STRING", "")
    return "\x00" in request.path or "%00" in query or "\x00" in query


class RequestEdgeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if has_nul(request):
            if request.path.startswith(API_PREFIX):
                response = json_refusal(400, "malformed", "The address may not contain NUL characters.")
            else:
                response = bad_request(request, ValueError("NUL in the address"))
        else:
            response = self.get_response(request)
        response.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response

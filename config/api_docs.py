"""The OpenAPI 3 schema of the API (drf-spectacular, built from the views' annotations) and its docs page."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema; its refusals are JSON like the rest of the API (not YAML, the schema's own format)."""

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


def closed_request_bodies(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: a request body takes the fields its schema lists and nothing else, so
    no string the edge would refuse (a NUL byte, a lone surrogate) can hide in an undocumented field."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    return result


class DocsView(SpectacularSwaggerSplitView):
    """The documentation page, for a logged-in session or a token (DRF's authentication, as the API). A person's
    browser without a session goes to the login page; any other client gets the API's JSON refusal. Its script
    comes from a second request to the same address (?script), as the content security policy allows no inline
    script."""

    def permission_denied(self, request, message=None, code=None):
        accepts_html = "text/html" in request.META.get("HTTP_ACCEPT", "")
        if not request.successful_authenticator and accepts_html and "HTTP_AUTHORIZATION" not in request.META:
            raise _ToLogin(request.get_full_path())
        super().permission_denied(request, message, code)

    def handle_exception(self, exc: Exception):
        if isinstance(exc, _ToLogin):
            return redirect_to_login(exc.next_url)
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response


class _ToLogin(Exception):
    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url

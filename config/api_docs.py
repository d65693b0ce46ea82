"""The OpenAPI 3 schema of the API (drf-spectacular, built from the views' annotations) and its docs page."""

from __future__ import annotations

from drf_spectacular.views import SpectacularAPIView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema; its refusals are JSON like the rest of the API (not YAML, the schema's own format)."""

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

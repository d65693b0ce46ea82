"""Per-user rate limits of the API (DRF throttling), counted in the shared cache (Redis when configured).

Two windows: a burst limit per second and a sustained one per minute, both far above what a fast honest annotator
sends (the labeling page sends one request per label, about one a second at the fastest), so only a script
flooding the API meets them. The rates are read from settings on every request (API_THROTTLE_RATES), so the
load benchmark can raise them from its environment and a test can lower them.
"""

from __future__ import annotations

import logging

from django.conf import settings
from redis.exceptions import RedisError
from rest_framework.throttling import UserRateThrottle

log = logging.getLogger(__name__)


class AnnotationThrottle(UserRateThrottle):
    def get_rate(self) -> str | None:
        return settings.API_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except RedisError:
            # A rate limit is a guard, not a gate: with the cache down the API keeps labeling.
            log.warning("rate-limit cache unreachable; request let through", exc_info=True)
            return True


class BurstThrottle(AnnotationThrottle):
    scope = "annotation_burst"


class SustainedThrottle(AnnotationThrottle):
    scope = "annotation_sustained"

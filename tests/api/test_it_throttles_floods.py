"""Per-user rate limits on the annotation API: a flood gets a 429 JSON answer, a fast honest annotator never does."""

from __future__ import annotations

import threading
import time

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from rest_framework.throttling import SimpleRateThrottle

from .conftest import assert_refusal, token_client


def test_it_throttles_a_flood_per_user(holding, other_annotator, settings):
    client, campaign, _ = holding
    settings.API_THROTTLE_RATES = {"annotation_burst": "6/min", "annotation_sustained": "300/min"}
    url = reverse("annotation_api:progress", args=[campaign.pk])
    # Six a minute: the fixture's /next/ and five more.
    assert [client.get(url).status_code for _ in range(5)] == [200] * 5
    response = client.get(url)
    assert_refusal(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    # Someone else is not slowed down by it.
    assert token_client(other_annotator).get(url).status_code == 200


def test_its_limits_are_far_above_a_fast_annotator():
    from config.settings import base  # the defaults (the test settings lift them for scripted tests)

    rates = base.API_THROTTLE_RATES
    assert rates == {"annotation_burst": "30/s", "annotation_sustained": "300/min"}  # what the README says
    parse = SimpleRateThrottle.parse_rate
    burst, sustained = (parse(None, rates[scope]) for scope in ("annotation_burst", "annotation_sustained"))
    # A fast honest annotator labels about once a second; the page sends one request per label.
    assert burst[0] / burst[1] >= 10
    assert sustained[0] / sustained[1] >= 5 and sustained[1] >= 60


def test_it_keeps_the_counters_in_this_runs_redis_keys():
    cache = django_settings.CACHES["default"]
    assert cache["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert cache["KEY_PREFIX"] == django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]


def _admitted_at_once(user, n: int) -> list[float]:
    """n requests of one user at the same instant, each through the API's rate limits as configured; the times
    (monotonic) of those let through."""
    from rest_framework.settings import api_settings
    from rest_framework.test import APIRequestFactory, force_authenticate
    from rest_framework.views import APIView

    barrier = threading.Barrier(n)
    admitted: list[float] = []
    lock = threading.Lock()

    def one() -> None:
        request = APIView().initialize_request(APIRequestFactory().get("/api/campaigns/"))
        force_authenticate(request, user)
        request.user = user
        barrier.wait()
        if all(throttle().allow_request(request, None) for throttle in api_settings.DEFAULT_THROTTLE_CLASSES):
            with lock:
                admitted.append(time.monotonic())

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(admitted)


def _most_within(times: list[float], seconds: float) -> int:
    return max((sum(1 for t in times if start <= t < start + seconds) for start in times), default=0)


@pytest.mark.parametrize(("rates", "limit", "window"), [
    ({"annotation_burst": "10/s", "annotation_sustained": "100000/min"}, 10, 1.0),
    ({"annotation_burst": "100000/s", "annotation_sustained": "20/min"}, 20, 60.0),
])
@pytest.mark.parametrize("cache", ["redis", "memory"])
def test_it_holds_its_limit_under_a_hundred_requests_at_once(annotator, settings, rates, limit, window, cache):
    if cache == "memory":  # embedded mode: no Redis, one process
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.API_THROTTLE_RATES = rates
    admitted = _admitted_at_once(annotator, 100)
    print(f"{cache}: {len(admitted)} of 100 admitted, at most {_most_within(admitted, window)} within {window} s "
          f"(limit {limit})")
    # At most 10% over the limit within any one window (a sliding window of the limit's length).
    assert limit <= len(admitted) and _most_within(admitted, window) <= limit * 1.1, len(admitted)


def test_it_costs_one_redis_round_trip_per_request(holding, settings):
    from redis.client import Redis

    client, campaign, _ = holding
    settings.API_THROTTLE_RATES = {"annotation_burst": "30/s", "annotation_sustained": "300/min"}
    url = reverse("annotation_api:progress", args=[campaign.pk])
    client.get(url)  # the script is loaded once per process
    calls = []
    original = Redis.execute_command

    def counted(self, *args, **options):
        calls.append(args[0])
        return original(self, *args, **options)

    Redis.execute_command = counted
    try:
        assert client.get(url).status_code == 200
    finally:
        Redis.execute_command = original
    assert len(calls) == 1, calls

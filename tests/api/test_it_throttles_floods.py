"""Per-user rate limits on the annotation API: a flood gets a 429 JSON answer, a fast honest annotator never does."""

from __future__ import annotations

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

"""Input that cannot be stored or compared is refused at the edge with a 4xx JSON answer, never a 500.

Each case is one an annotator (primed, holding an image) sent and got a 500 HTML page for.
"""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from annotation.models import Label

from .conftest import assert_refusal, nothing_stored, raw_post


def submit_url(campaign) -> str:
    return reverse("annotation_api:submit", args=[campaign.pk])


def test_it_refuses_a_nul_byte_in_an_image_id(holding):
    client, campaign, item = holding
    response = client.post(submit_url(campaign), {"item": item + "\u0000", "value": "novel"}, format="json")
    assert_refusal(response, 400)
    assert nothing_stored()
    # The claim survives: the right id still goes through.
    assert client.post(submit_url(campaign), {"item": item, "value": "novel"}, format="json").status_code == 201


def test_it_answers_404_for_a_nul_byte_in_an_image_url(holding, annotator):
    client, _, _ = holding
    client.force_login(annotator)
    assert client.get("/annotate/image/%00.png").status_code == 404
    assert client.get("/annotate/image/abc%00def.png").status_code == 404
    assert client.get("/annotate/image/%F0%9F%98%80.png").status_code == 404
    for page in ("", "priming/", "priming.png", "done/"):
        assert client.get(f"/annotate/99999999999999999999/{page}").status_code == 404, page


def test_it_refuses_a_lone_surrogate(holding):
    client, campaign, item = holding
    response = raw_post(client, submit_url(campaign), b'{"item": "\\ud800abc", "value": "novel"}')
    assert_refusal(response, 400, "malformed")
    response = raw_post(client, submit_url(campaign), b'{"item": "%s", "value": "novel\\udfff"}' % item.encode())
    assert_refusal(response, 400)
    assert nothing_stored()


def test_it_refuses_deep_nesting(holding):
    client, campaign, _ = holding
    assert_refusal(raw_post(client, submit_url(campaign), b"[" * 100_000), 400, "malformed")
    nested = {"item": "x"}
    for _ in range(20):
        nested = {"a": nested}
    assert_refusal(raw_post(client, submit_url(campaign), json.dumps(nested).encode()), 400, "malformed")
    assert nothing_stored()


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"NaN", b"Infinity", b"-Infinity"])
def test_it_refuses_non_finite_numbers(holding, number):
    client, campaign, item = holding
    body = b'{"item": "%s", "value": "novel", "time_spent_ms": %s}' % (item.encode(), number)
    assert_refusal(raw_post(client, submit_url(campaign), body), 400)
    assert nothing_stored()


def test_it_refuses_invalid_utf8(holding):
    client, campaign, item = holding
    body = b'{"item": "%s", "value": "nov\xffel"}' % item.encode()
    assert_refusal(raw_post(client, submit_url(campaign), body), 400, "malformed")


@pytest.mark.parametrize("query", [
    {"campaign": "²"}, {"campaign": "١"}, {"campaign": "99999999999999999999"}, {"campaign": "-1"},
    {"limit": "99999999999999999999"}, {"offset": "99999999999999999999"}, {"limit": "²"}, {"offset": "-3"},
])
def test_it_refuses_numbers_it_cannot_compare(holding, query):
    client, _, _ = holding
    assert_refusal(client.get(reverse("annotation_api:labels"), query), 400, "malformed")


def test_it_still_pages_with_plain_numbers(holding):
    client, campaign, item = holding
    assert client.post(submit_url(campaign), {"item": item, "value": "novel"}, format="json").status_code == 201
    answer = client.get(reverse("annotation_api:labels"), {"campaign": campaign.pk, "limit": "5", "offset": "0"})
    assert answer.status_code == 200 and answer.json()["count"] == 1


def test_it_answers_404_for_a_campaign_id_past_the_database_range(holding):
    client, _, _ = holding
    response = client.post("/api/campaigns/99999999999999999999/next/")
    assert_refusal(response, 404, "not_found")


def test_it_refuses_a_body_over_the_limit_before_reading_it(holding, settings):
    client, campaign, item = holding
    big = json.dumps({"item": item, "value": "novel", "pad": "x" * 10_000_000}).encode()
    body = assert_refusal(raw_post(client, submit_url(campaign), big), 413, "too_large")
    assert str(settings.API_MAX_BODY_BYTES) in body["detail"]
    # A Content-Length that announces too much is refused without a byte being read: the stream here is short,
    # and reading it would find the body malformed (400), not too large.
    assert_refusal(raw_post(client, submit_url(campaign), b"{", CONTENT_LENGTH=str(10_000_000)), 413, "too_large")
    assert nothing_stored()


def test_it_refuses_a_form_body(holding):
    client, campaign, item = holding
    response = raw_post(client, submit_url(campaign), f"item={item}&value=novel".encode(),
                        content_type="application/x-www-form-urlencoded")
    assert_refusal(response, 415, "unsupported_media_type")
    response = client.post(submit_url(campaign), {"item": item, "value": "novel"}, format="multipart")
    assert_refusal(response, 415, "unsupported_media_type")
    assert not Label.objects.exists()


def test_it_refuses_a_next_that_is_not_a_boolean(holding):
    client, campaign, item = holding
    response = client.post(submit_url(campaign), {"item": item, "value": "novel", "next": "yes"}, format="json")
    assert_refusal(response, 400, "malformed")
    assert nothing_stored()

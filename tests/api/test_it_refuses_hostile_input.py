"""Input that cannot be stored or compared is refused at the edge with a 4xx JSON answer, never a 500.

Each case is one an annotator (primed, holding an image) sent and got a 500 HTML page for.
"""

from __future__ import annotations

import io
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


def test_it_answers_4xx_for_a_nul_byte_in_an_image_url(holding, annotator):
    client, _, _ = holding
    client.force_login(annotator)
    assert client.get("/annotate/image/%00.png").status_code == 400  # no address has a NUL in it
    assert client.get("/annotate/image/abc%00def.png").status_code == 400
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


def test_it_refuses_a_wildcard_content_type(holding):
    client, campaign, item = holding
    body = json.dumps({"item": item, "value": "novel"}).encode()
    assert_refusal(raw_post(client, submit_url(campaign), body, content_type="*/*"), 415, "unsupported_media_type")
    assert_refusal(raw_post(client, submit_url(campaign), body, content_type="application/*"), 415)
    assert nothing_stored()


@pytest.mark.parametrize("action", ["next", "priming", "undo"])
def test_the_actions_without_a_body_refuse_a_form_body(holding, action):
    client, campaign, _ = holding
    url = reverse(f"annotation_api:{'primed' if action == 'priming' else action}", args=[campaign.pk])
    response = raw_post(client, url, b"a=1&b=2", content_type="application/x-www-form-urlencoded")
    assert_refusal(response, 415, "unsupported_media_type")
    # No body, or a JSON one, is what they take.
    assert client.post(reverse("annotation_api:next", args=[campaign.pk])).status_code == 200
    assert raw_post(client, reverse("annotation_api:next", args=[campaign.pk]), b"{}").status_code == 200


def test_it_reads_a_chunked_body(holding, settings):
    """A body sent with Transfer-Encoding: chunked has no Content-Length: it is read (within the limit), not taken
    for empty."""
    client, campaign, item = holding
    body = json.dumps({"item": item, "value": "novel"}).encode()
    def chunked(data: bytes) -> dict:  # what the server hands Django: the chunking taken off, no length
        return {"CONTENT_LENGTH": "", "HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input": io.BytesIO(data)}

    response = raw_post(client, submit_url(campaign), body, **chunked(body))
    assert response.status_code == 201, response.content
    assert Label.objects.count() == 1
    big = json.dumps({"item": item, "value": "novel", "pad": "x" * (settings.API_MAX_BODY_BYTES + 10)}).encode()
    assert_refusal(raw_post(client, submit_url(campaign), big, **chunked(big)), 413, "too_large")


def test_it_refuses_a_negative_time_with_a_documented_code(holding):
    client, campaign, item = holding
    response = client.post(submit_url(campaign), {"item": item, "value": "novel", "time_spent_ms": -1}, format="json")
    assert_refusal(response, 400, "malformed")
    assert nothing_stored()


def test_it_answers_json_only_with_a_documented_406(holding):
    client, campaign, _ = holding
    response = client.get(reverse("annotation_api:progress", args=[campaign.pk]), HTTP_ACCEPT="application/xml")
    assert_refusal(response, 406, "not_acceptable")
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            assert "406" in op["responses"], (path, method)


def test_the_schema_forbids_nul_in_the_strings_the_edge_refuses(holding):
    import re

    client, _, _ = holding
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]
    for name, component in components.items():
        if not name.endswith("Request"):
            continue
        # No undocumented field either, where any string could hide.
        assert component.get("additionalProperties") is False, name
        for field, spec in component.get("properties", {}).items():
            if spec.get("type") == "string" and "enum" not in spec:
                assert "pattern" in spec and not re.search(spec["pattern"], "a\x00b"), (name, field, spec)


def test_the_docs_answer_a_token_client(annotator):
    from .conftest import token_client

    page = token_client(annotator).get("/api/docs/")
    assert page.status_code == 200 and b"swagger-ui" in page.content
    anonymous = token_client(annotator)
    anonymous.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert_refusal(anonymous.get("/api/docs/"), 403)

"""Every refusal of the API, the project's own and DRF's, is {"error": code, "detail": message} as JSON."""

from __future__ import annotations

from django.urls import reverse
from rest_framework.test import APIClient

from .conftest import assert_refusal, raw_post, token_client


def test_it_answers_a_parse_error_with_a_code(holding):
    client, campaign, _ = holding
    response = raw_post(client, reverse("annotation_api:submit", args=[campaign.pk]), b'{"item": ')
    assert_refusal(response, 400, "malformed")


def test_it_answers_anonymous_callers_with_a_code():
    assert_refusal(APIClient().get(reverse("annotation_api:campaigns")), 403, "not_authenticated")


def test_it_answers_a_bad_token_with_a_code(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token nope")
    # 403, not 401: session authentication comes first, and it names no WWW-Authenticate scheme.
    assert_refusal(client.get(reverse("annotation_api:campaigns")), 403, "authentication_failed")


def test_it_answers_a_campaign_of_others_with_a_code(primed, stranger):
    response = token_client(stranger).post(reverse("annotation_api:next", args=[primed.pk]))
    assert_refusal(response, 404, "not_found")


def test_it_answers_an_unknown_api_path_as_json(annotator):
    assert_refusal(token_client(annotator).get("/api/nothing-here/"), 404, "not_found")


def test_it_answers_a_wrong_method_with_a_code(holding):
    client, campaign, _ = holding
    assert_refusal(client.get(reverse("annotation_api:submit", args=[campaign.pk])), 405, "method_not_allowed")
    assert_refusal(client.delete(reverse("annotation_api:labels")), 405, "method_not_allowed")


def test_it_keeps_the_project_codes(holding):
    client, campaign, _ = holding
    response = client.post(reverse("annotation_api:submit", args=[campaign.pk]), {"item": "x" * 22, "value": "novel"},
                           format="json")
    assert_refusal(response, 409, "not_assigned")


def test_it_answers_a_server_error_under_the_api_as_json(rf):
    from django.http import HttpResponseServerError

    from config.api_edge import APIEdgeMiddleware

    # What Django's handler makes of an exception in a view: an HTML page, here turned into the API's shape.
    middleware = APIEdgeMiddleware(lambda request: HttpResponseServerError("<h1>Server Error (500)</h1>"))
    assert_refusal(middleware(rf.post("/api/campaigns/1/next/")), 500, "server_error")
    assert middleware(rf.get("/annotate/"))["Content-Type"].startswith("text/html")  # pages stay pages

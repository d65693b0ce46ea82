"""The API's edge: an annotator primed and holding an image, talking to the API with a token, as a script would."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import Label
from tests.annotation.conftest import campaign, pool, primed, training_folder  # noqa: F401  (shared fixtures)


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


@pytest.fixture
def holding(primed, annotator):  # noqa: F811
    """(client, campaign, image id): the annotator is primed and holds an image."""
    client = token_client(annotator)
    answer = client.post(reverse("annotation_api:next", args=[primed.pk]))
    assert answer.status_code == 200, answer.content
    return client, primed, answer.json()["item"]["id"]


def raw_post(client: APIClient, url: str, body: bytes, content_type: str = "application/json", **extra):
    return client.generic("POST", url, body, content_type=content_type, **extra)


def assert_refusal(response, status: int, code: str | None = None) -> dict:
    """A JSON refusal with the README's shape: {"error": code, "detail": message}."""
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    if code is not None:
        assert body["error"] == code, body
    return body


def nothing_stored() -> bool:
    return not Label.objects.exists()

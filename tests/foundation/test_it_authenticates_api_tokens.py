"""API tokens: the platform's token lookup (config/authentication.py) answers as DRF's own would."""

from __future__ import annotations

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


def get(token: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.get("/api/labels/")


def test_it_lets_a_valid_token_in_as_its_user(annotator, other_annotator):
    token = Token.objects.create(user=annotator)
    Token.objects.create(user=other_annotator)
    response = get(token.key)
    assert response.status_code == 200
    assert response.wsgi_request.user == annotator
    assert response.wsgi_request.auth.key == token.key


def test_it_refuses_an_unknown_token(annotator):
    Token.objects.create(user=annotator)
    response = get("0" * 40)
    assert response.status_code == 403  # the first authentication class (session) names no challenge: 403
    assert response.json()["detail"] == "Invalid token."


def test_it_refuses_the_token_of_an_inactive_user(annotator):
    token = Token.objects.create(user=annotator)
    annotator.is_active = False
    annotator.save()
    response = get(token.key)
    assert response.status_code == 403  # the first authentication class (session) names no challenge: 403
    assert response.json()["detail"] == "User inactive or deleted."


def test_it_refuses_a_malformed_header(annotator):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token two words")
    response = client.get("/api/labels/")
    assert response.status_code == 403  # the first authentication class (session) names no challenge: 403
    assert "spaces" in response.json()["detail"]

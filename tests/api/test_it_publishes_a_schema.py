"""The OpenAPI 3 schema of the whole API, for logged-in users, and its documentation page."""

from __future__ import annotations

import pytest
from django.test import Client
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from .conftest import assert_refusal, token_client

OPERATIONS = {
    ("/api/campaigns/", "get"), ("/api/campaigns/{id}/next/", "post"), ("/api/campaigns/{id}/labels/", "post"),
    ("/api/campaigns/{id}/undo/", "post"), ("/api/campaigns/{id}/progress/", "get"),
    ("/api/campaigns/{id}/priming/", "post"), ("/api/labels/", "get"),
}


@pytest.fixture
def schema(annotator) -> dict:
    response = token_client(annotator).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200, response.content[:300]
    return response.json()


def test_it_serves_a_valid_openapi_3_schema(schema):
    validate_schema(schema)  # raises on anything that is not OpenAPI 3 (its JSON Schema)
    assert schema["openapi"].startswith("3.")
    assert {(path, method) for path, ops in schema["paths"].items() for method in ops} == OPERATIONS


def test_it_documents_every_answer_and_refusal(schema):
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            codes = set(op["responses"])
            assert {"400", "403", "404", "405", "413", "429"} <= codes, (path, method, codes)
            assert any(code.startswith("2") for code in codes)
            for code, answer in op["responses"].items():
                if code.startswith("4") or code.startswith("5"):
                    ref = answer["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error", (path, method, code)
            if method == "post" and "requestBody" in op:
                assert set(op["requestBody"]["content"]) == {"application/json"}
                assert "415" in codes
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "detail"}


def test_it_shows_the_schema_to_logged_in_users_only(researcher):
    assert_refusal(APIClient().get("/api/schema/"), 403, "not_authenticated")
    # A person's browser goes to the login page; a script gets the API's refusal.
    assert Client().get("/api/docs/", HTTP_ACCEPT="text/html,application/xhtml+xml").status_code == 302
    assert_refusal(Client().get("/api/docs/"), 403, "not_authenticated")
    client = Client()
    client.force_login(researcher)
    page = client.get("/api/docs/")
    assert page.status_code == 200
    assert b"swagger-ui" in page.content
    # Its script comes from its own request (no inline script: the content security policy allows none).
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and b"/api/schema/" in script.content
    # Offline assets: served from this site, nothing from a CDN.
    assert b"cdn.jsdelivr" not in page.content and b"unpkg.com" not in page.content


def test_it_builds_the_schema_without_a_warning(tmp_path):
    from django.core.management import call_command

    # Every view's shapes are declared: drf-spectacular guesses nothing (a guess is a warning, and fails here).
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/campaigns/{id}/labels/" in (tmp_path / "schema.yaml").read_text()

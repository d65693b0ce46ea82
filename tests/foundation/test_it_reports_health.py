"""/health/ answers JSON on the database, the broker and whether a worker is alive (503 when one is down)."""

from __future__ import annotations

import json

import pytest

from tests.foundation.helpers import run_django


@pytest.mark.worker
def test_it_reports_all_up_with_a_worker(client, start_worker, researcher):
    start_worker(name="health")
    client.force_login(researcher)  # the details are for staff
    response = client.get("/health/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True
    assert body["checks"]["database"] == {"ok": True, "vendor": "postgresql", "ms": body["checks"]["database"]["ms"]}
    assert body["checks"]["broker"]["ok"] is True
    assert any(name.startswith("health-") for name in body["checks"]["worker"]["workers"])


@pytest.mark.django_db
def test_it_reports_a_missing_worker(client, researcher):
    client.force_login(researcher)
    response = client.get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    assert body["checks"]["worker"] == {"ok": False, "workers": [], "error": "no worker answered a ping",
                                        "ms": body["checks"]["worker"]["ms"]}
    assert body["checks"]["worker"]["ms"] < 5000  # bounded: a load balancer calls this often
    assert "no-cache" in response["Cache-Control"]


def test_it_reports_the_broker_down():
    """CELERY_BROKER_URL at a closed port: 503 quickly, the database still up, no worker ping attempted."""
    code = (
        "import json\n"
        "from django.test import Client\n"
        "from config.health import check_all\n"
        "r = Client().get('/health/')\n"
        "print(r.status_code); print(json.dumps(check_all()))\n"
    )
    result = run_django(code, {"DEBUG": "true", "ALLOWED_HOSTS": "testserver",
                               "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
                               "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}, timeout=60)
    assert result.returncode == 0, result.stderr
    status, body = result.stdout.strip().splitlines()[-2:]
    assert status == "503"
    checks = json.loads(body)["checks"]
    assert checks["database"]["ok"] is True
    assert checks["broker"]["ok"] is False and "127.0.0.1:1" in checks["broker"]["error"]
    assert checks["broker"]["ms"] < 5000
    assert checks["worker"] == {"ok": False, "workers": [], "error": "broker is down"}


def test_it_reports_the_database_down():
    code = ("import json\nfrom django.test import Client\nfrom config.health import check_all\n"
            "r = Client().get('/health/')\nprint(r.status_code); print(json.dumps(check_all()))\n")
    result = run_django(code, {"DEBUG": "true", "ALLOWED_HOSTS": "testserver",
                               "DATABASE_URL": "postgres://postgres@127.0.0.1:1/postgres",
                               "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}, timeout=60)
    assert result.returncode == 0, result.stderr
    status, body = result.stdout.strip().splitlines()[-2:]
    assert status == "503"
    assert json.loads(body)["checks"]["database"]["ok"] is False

"""docker-compose.yml: no Docker engine runs the tests, so its structure is checked as data."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.foundation.helpers import REPO


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]


def test_it_has_every_service(services):
    assert {"postgres", "redis", "proxy", "web", "web-api", "worker-gpu", "worker-cpu", "beat"} <= set(services)


@pytest.mark.parametrize("name, probe", [("postgres", "pg_isready"), ("redis", "redis-cli")])
def test_it_checks_the_health_of_the_servers(services, name, probe):
    test = services[name]["healthcheck"]["test"]
    assert probe in " ".join(test)


@pytest.mark.parametrize("name", ["web", "web-api", "worker-gpu", "worker-cpu", "beat"])
def test_it_waits_for_healthy_servers(services, name):
    depends = services[name]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", ["web", "web-api", "worker-gpu", "worker-cpu", "beat"])
def test_it_points_the_app_at_postgres_and_redis(services, name):
    env = services[name]["environment"]
    assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
    assert env["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert env["DEBUG"] == "false"
    assert "SECRET_KEY" in env


def test_it_migrates_and_serves_the_web_with_gunicorn(services):
    command = services["web"]["command"]
    assert command.index("migrate") < command.index("gunicorn")
    assert "gunicorn -c deploy/gunicorn.conf.py" in command


def test_it_publishes_only_the_proxy(services):
    """gunicorn's sync workers must not meet clients directly: a slow one would hold a worker."""
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}
    assert services["proxy"]["ports"][0].endswith(":8080")
    assert services["proxy"]["environment"]["NGINX_LISTEN"] == "8080"


@pytest.mark.parametrize("name, upstream", [("web", "PAGES_UPSTREAM"), ("web-api", "API_UPSTREAM")])
def test_it_puts_the_web_pools_behind_the_proxy(services, name, upstream):
    assert services["proxy"]["environment"][upstream] == f"{name}:8000"
    assert "8000" in services[name]["expose"]
    assert services["proxy"]["depends_on"][name]["condition"] == "service_healthy"
    assert services[name]["environment"]["BEHIND_PROXY"] == "true"  # it believes the proxy's headers
    assert "GUNICORN_WORKERS" in services[name]["environment"]


def test_it_builds_the_proxy_from_debian_nginx(services):
    from deploy.proxy import PLACEHOLDERS

    assert services["proxy"]["build"] == {"context": ".", "target": "proxy"}
    dockerfile = (REPO / "Dockerfile").read_text()
    stage = dockerfile[dockerfile.index("AS proxy"):]
    assert "apt-get install" in stage and " nginx " in stage
    assert "COPY deploy/nginx/nginx.conf.template" in stage
    assert "COPY --from=app /srv/static /srv/static" in stage  # collectstatic's output, served by nginx
    for name in PLACEHOLDERS:  # envsubst fills in every placeholder the template has
        assert "${" + name + "}" in stage.split("envsubst", 1)[1].split("<", 1)[0]
    assert dockerfile.rstrip().endswith("FROM app")  # `docker build .` still builds the app


def test_it_reserves_one_gpu_for_a_single_job_worker(services):
    worker = services["worker-gpu"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    command = worker["command"]
    assert command[command.index("-Q") + 1] == "gpu"
    assert command[command.index("--concurrency") + 1] == "1"


def test_it_keeps_light_work_off_the_gpu(services):
    command = services["worker-cpu"]["command"]
    assert command[command.index("-Q") + 1] == "default"
    assert "deploy" not in services["worker-cpu"]


def test_it_builds_the_app_from_the_dockerfile(services):
    assert services["web"]["build"] == {"context": ".", "target": "app"}
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "pip install -r requirements.txt" in dockerfile
    assert "collectstatic" in dockerfile

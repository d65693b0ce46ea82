"""Embedded mode: SQLite and the filesystem broker, no server at all; a worker still runs tasks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.foundation.helpers import REPO, clean_env, run_django, run_manage


@pytest.mark.worker
def test_it_runs_a_task_without_postgres_or_redis(tmp_path):
    env = {
        "DEBUG": "true",
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_BROKER_DIR": str(tmp_path / "broker"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "WORKER_DEVICE_CHECK": "false",
    }
    migrate = run_manage(["migrate", "--noinput", "-v", "0"], env)
    assert migrate.returncode == 0, migrate.stderr

    worker_env = clean_env()
    worker_env.update(env, DJANGO_SETTINGS_MODULE="config.settings.base")
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,gpu", "--concurrency", "1",
             "-n", "embedded@%h", "--without-mingle", "--without-gossip"],
            cwd=REPO, env=worker_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        probe = run_manage(["probe_worker", "--timeout", "60"], env)
        assert probe.returncode == 0, probe.stderr + log.read_text()
        assert "ran the probe" in probe.stdout
        # The filesystem broker needs no host, and says nothing about one (kombu warns when the URL names none).
        assert "No hostname was supplied" not in probe.stdout + probe.stderr + log.read_text()

        health = run_django(
            "import json\nfrom django.test import Client\nfrom config.health import check_all\n"
            "r = Client().get('/health/')\nprint(r.status_code); print(json.dumps(check_all()))",
            env)
        status, body = health.stdout.strip().splitlines()[-2:]
        checks = json.loads(body)["checks"]
        assert status == "200", body
        assert checks["database"]["vendor"] == "sqlite"
        assert checks["broker"]["transport"] == "filesystem"
        assert any(name.startswith("embedded@") for name in checks["worker"]["workers"])
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()

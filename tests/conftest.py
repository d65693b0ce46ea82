"""Shared fixtures: personas, and real Celery worker processes over Redis and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import make_annotator, make_researcher, make_user

REPO = Path(__file__).resolve().parent.parent


def _servers_down() -> list[str]:
    """The test suite uses the real PostgreSQL and Redis; say which one does not answer, and how to start it."""
    import psycopg2
    import redis

    down = []
    db = settings.DATABASES["default"]
    try:
        psycopg2.connect(dbname="postgres", user=db["USER"], password=db["PASSWORD"], host=db["HOST"] or "localhost",
                         port=db["PORT"] or 5432, connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        down.append(f"PostgreSQL at {db['HOST']}:{db['PORT']} does not answer ({str(exc).strip()}); "
                    "start it (CI: .ci/run starts it) or set DATABASE_URL")
    try:
        redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        down.append(f"Redis at {settings.CELERY_BROKER_URL} does not answer ({exc}); "
                    "start it (CI: .ci/run starts it) or set CELERY_BROKER_URL")
    return down


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("SKIP_SERVER_CHECK") == "1":
        return
    down = _servers_down()
    if down:
        pytest.exit("The tests need PostgreSQL and Redis:\n  " + "\n  ".join(down), returncode=3)


def pytest_configure(config: pytest.Config) -> None:
    # Browser assertions wait as long as the pages' own default timeout (15 s), not Playwright's 5 s: a loaded
    # 2-core CI machine can take longer than 5 s to answer a form post while a worker trains a model beside it.
    try:
        from playwright.sync_api import expect
    except ImportError:
        return
    expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, plus: end stray sessions before it is dropped.

    A worker killed on purpose (or a thread a test left behind) can still hold a connection when the run ends;
    PostgreSQL then refuses to drop the test database and it would be left on the server.
    """
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


class WorkerProcess:
    """A `celery worker` child process bound to this test run's database and Redis key prefix."""

    def __init__(self, queues: str = "default,gpu", concurrency: int = 1, name: str = "w") -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="celery-worker-", suffix=".log", delete=False)
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="config.settings.test",
            TEST_RUN_ID=settings.RUN_ID,
            USE_TEST_DATABASE="1",
            PYTHONUNBUFFERED="1",
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", queues,
             "--concurrency", str(concurrency), "--pool", "prefork", "--loglevel", "INFO",
             "--without-mingle", "--without-gossip", "-n", f"{name}-{settings.RUN_ID}@%h"],
            cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def wait_ready(self, stall: float = 180) -> None:
        """Until the worker says it is ready; fails when it exits, or when its log stops growing for `stall` s
        (importing torch on a loaded machine can take a minute before the first line)."""
        from tests.waiting import until

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.output()}")
            return " ready." in self.output()

        try:
            until(ready, progress=lambda: len(self.output()), what="worker start", stall=stall)
        except AssertionError as exc:
            raise TimeoutError(f"{exc}:\n{self.output()}") from exc

    def kill(self) -> None:
        """SIGKILL the whole process group, as an out-of-memory killer or a lost machine would."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def start_worker(transactional_db) -> Iterator:
    """Factory: start_worker(queues="default,gpu") -> a ready WorkerProcess; all are stopped after the test.

    Tests that use it run with transactional_db, since the worker sees only committed rows.
    """
    from config.celery_app import app

    workers: list[WorkerProcess] = []

    def start(queues: str = "default,gpu", concurrency: int = 1, name: str = "w") -> WorkerProcess:
        worker = WorkerProcess(queues=queues, concurrency=concurrency, name=name)
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()
    app.control.purge()


@pytest.fixture
def researcher(db):
    return make_researcher("rita")


@pytest.fixture
def annotator(db):
    return make_annotator("anna")


@pytest.fixture
def other_annotator(db):
    return make_annotator("otto")


@pytest.fixture
def stranger(db):
    """Logged in, but neither researcher nor annotator."""
    return make_user("sam")

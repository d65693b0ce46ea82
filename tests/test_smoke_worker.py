"""The whole pipeline: a task goes through Redis to a real Celery worker, which writes its row to PostgreSQL."""

from __future__ import annotations

import secrets
import time

import pytest
from django.core.management import call_command

from config.tasks import record_probe
from core.models import WorkerProbe


def wait_for_probe(token: str, timeout: float = 30) -> WorkerProbe:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe = WorkerProbe.objects.filter(token=token).first()
        if probe is not None:
            return probe
        time.sleep(0.2)
    raise AssertionError(f"no worker wrote probe {token} within {timeout}s")


@pytest.mark.worker
def test_it_runs_a_task_on_a_worker_and_writes_postgres(start_worker):
    worker = start_worker(queues="default", name="smoke")
    token = secrets.token_hex(8)
    record_probe.delay(token)
    probe = wait_for_probe(token)
    assert probe.pid != worker.proc.pid  # ran in a child of the worker, not the parent
    assert probe.device == "cpu" or probe.device.startswith("cuda")
    assert "record_probe[" in worker.output()


@pytest.mark.worker
def test_it_leaves_a_task_queued_without_a_worker_on_its_queue(start_worker):
    start_worker(queues="gpu", name="gpuonly")
    token = secrets.token_hex(8)
    record_probe.delay(token)  # routed to "default", which nobody consumes
    time.sleep(2)
    assert not WorkerProbe.objects.filter(token=token).exists()


@pytest.mark.worker
def test_it_probes_the_worker_from_the_command_line(start_worker, capsys):
    start_worker(queues="default", name="cmd")
    call_command("probe_worker", "--timeout", "30")
    assert "ran the probe" in capsys.readouterr().out

"""config.devices.pick_device: CUDA when present, else the CPU; CREATIVE_DEVICE overrides; bad names fail."""

from __future__ import annotations

import sys

import pytest
import torch

from config.devices import describe_device, pick_device
from tests.foundation.helpers import run_django


def test_it_picks_cuda_when_present_else_cpu(monkeypatch):
    monkeypatch.delenv("CREATIVE_DEVICE", raising=False)
    assert pick_device() == ("cuda" if torch.cuda.is_available() else "cpu")


def test_it_obeys_creative_device(monkeypatch):
    monkeypatch.setenv("CREATIVE_DEVICE", "cpu")
    assert pick_device() == "cpu"
    assert describe_device(pick_device())["device"] == "cpu"


def test_it_prefers_the_argument_to_the_environment(monkeypatch):
    monkeypatch.setenv("CREATIVE_DEVICE", "cuda:7")
    assert pick_device("cpu") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_it_refuses_cuda_on_a_machine_without_it(monkeypatch):
    monkeypatch.setenv("CREATIVE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="torch sees no CUDA device"):
        pick_device()


def test_it_refuses_a_malformed_device(monkeypatch):
    monkeypatch.setenv("CREATIVE_DEVICE", "gpu-please")
    with pytest.raises(RuntimeError):
        pick_device()


def test_it_keeps_torch_out_of_the_worker_parent():
    """Loading the Celery app and every task module must not import torch (CUDA must not start before fork)."""
    code = (
        "import sys\n"
        "from config.celery_app import app\n"
        "app.loader.import_default_modules()\n"
        "assert 'config.tasks.record_probe' in app.tasks, sorted(app.tasks)\n"
        "print('torch' in sys.modules)\n"
    )
    result = run_django(code, {"DEBUG": "true"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"
    assert "torch" in sys.modules  # this process did import it (the check above is not vacuous)

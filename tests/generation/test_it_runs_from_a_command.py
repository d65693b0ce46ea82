"""generation_run runs a job in the calling process and reports failures as command errors."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from generation.models import JobStatus
from tests.generation.conftest import make_job

pytestmark = pytest.mark.django_db


def test_it_runs_a_job_in_this_process(ready_model):
    job = make_job(ready_model, n=4, optimise_dr=False)
    out = StringIO()
    call_command("generation_run", job=job.pk, stdout=out)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and "succeeded" in out.getvalue()


def test_it_reports_a_failed_job(ready_model):
    job = make_job(ready_model, n=4)
    Path(ready_model.checkpoint.path).unlink()
    with pytest.raises(CommandError, match="checkpoint file"):
        call_command("generation_run", job=job.pk)


def test_it_names_a_missing_row(db):
    with pytest.raises(CommandError, match="no generation job with id 999"):
        call_command("generation_run", job=999)

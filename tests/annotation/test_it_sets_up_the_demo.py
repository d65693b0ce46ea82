from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from annotation.models import Campaign
from generation.models import GenerationJob, TrainedModel
from tests.annotation.conftest import make_training_folder


@pytest.mark.django_db
def test_it_sets_up_the_demo_once(tmp_path):
    folder = make_training_folder(tmp_path, n=40)
    args = ["--dataset", "folder", "--folder", str(folder), "--limit", "40", "--epochs", "1", "--batch-size", "16",
            "--samples", "8",
            "--per-scheme", "3", "--attention-checks", "1", "--accept-spottable-checks", "--annotators", "3", "--password", "demo pass 123"]
    out = io.StringIO()
    call_command("demo", *args, stdout=out)
    assert "demo1..demo3 / demo pass 123" in out.getvalue()
    again = io.StringIO()
    call_command("demo", *args, stdout=again)
    assert "existing" in again.getvalue()

    assert TrainedModel.objects.count() == GenerationJob.objects.count() == Campaign.objects.count() == 1
    assert TrainedModel.objects.get().metrics["batch_size"] == 16
    campaign = Campaign.objects.get()
    assert campaign.is_open
    assert campaign.pool.items.count() == 4 * 3 + 1
    assert sorted(campaign.annotators.values_list("username", flat=True)) == ["demo1", "demo2", "demo3"]
    assert User.objects.get(username="demo2").check_password("demo pass 123")


def test_the_demo_trains_the_demo_recipe_by_default():
    # All the training images, few epochs, a larger batch: the model tests/core/test_demo_model.py checks.
    from annotation.management.commands.demo import Command
    from creative_core.training import DEMO_TRAINING

    opts = Command().create_parser("manage.py", "demo").parse_args([])
    assert (opts.dataset, opts.limit, opts.epochs, opts.batch_size) == (
        DEMO_TRAINING["dataset"], None, DEMO_TRAINING["epochs"], DEMO_TRAINING["batch_size"])
    assert DEMO_TRAINING["limit"] is None and DEMO_TRAINING["batch_size"] > 128

"""The admin index leads a researcher through the study: models -> jobs -> pools -> campaigns, each with its status,
progress and next step; it links to the reports and the reports link back; rows nobody adds by hand are hidden."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from annotation.models import Campaign
from tests.factories import PASSWORD
from tests.researcher.conftest import run_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def rita(client, researcher):
    client.force_login(researcher)
    return client


def dashboard(client) -> str:
    page = client.get(reverse("admin:index")).content.decode()
    found = re.search(r'<section id="study-dashboard".*?</section>', page, re.S)
    assert found, "no study dashboard on the admin index"
    return found.group(0)


def test_it_shows_each_step_with_its_next_action(rita, labelled_campaign, ready_model, study_pool):
    bare_job = run_job(ready_model, n=4)  # succeeded, no pool yet
    board = dashboard(rita)
    assert ready_model.name in board and "Succeeded" in board
    # The campaign: labels done / labels wanted (9 images x 3 per image), and its report.
    assert "6 / 27 labels" in board
    assert reverse("evaluation:report", args=[labelled_campaign.pk]) in board
    assert reverse("admin:generation_generationjob_pool", args=[bare_job.pk]) in board and "Build a sample pool" in board
    # A pool with no campaign yet: open one, the pool preselected.
    Campaign.objects.all().delete()
    board = dashboard(rita)
    assert reverse("admin:annotation_campaign_add") + f"?pool={study_pool.pk}" in board and "Open a campaign" in board


def test_it_starts_a_new_study_from_a_trained_model(rita, ready_model):
    board = dashboard(rita)
    assert reverse("admin:generation_generationjob_add") + f"?trained_model={ready_model.pk}" in board
    assert "Run a generation job" in board


def test_it_says_what_to_do_first_on_an_empty_site(rita):
    board = dashboard(rita)
    assert reverse("admin:generation_trainedmodel_add") in board and "Train a model" in board


def test_it_links_the_admin_and_the_reports(rita):
    index = rita.get(reverse("admin:index")).content.decode()
    # "View site" leads to the reports, not back to the admin.
    assert 'href="/reports/"' in index
    assert rita.get("/reports/").status_code == 200
    assert f'href="{reverse("admin:index")}"' in rita.get("/reports/").content.decode()


def test_it_hides_rows_nobody_adds_by_hand(labelled_campaign, client):
    call_command("bootstrap_accounts", admin_password=PASSWORD, annotators=0, stdout=None)
    client.force_login(User.objects.get(username="admin"))
    index = client.get(reverse("admin:index")).content.decode()
    assert reverse("admin:core_workerprobe_add") not in index
    assert reverse("admin:annotation_label_add") not in index
    assert "/admin/authtoken/" not in index
    # Still what a researcher does add.
    assert reverse("admin:generation_trainedmodel_add") in index and reverse("admin:annotation_campaign_add") in index


def test_it_flags_a_campaign_where_no_consensus_is_possible(rita, study_pool):
    Campaign.objects.create(name="Pilot", pool=study_pool, annotators_per_image=2)
    assert "no consensus possible" in dashboard(rita)


def test_it_shows_the_demo_being_prepared_until_its_campaign_is_open(rita, ready_model, study_pool):
    from annotation.management.commands.demo import DEMO_CAMPAIGN, DEMO_MODEL
    from generation.models import GenerationJob, JobStatus, TrainedModel

    def section() -> str:
        page = rita.get(reverse("admin:index")).content.decode()
        found = re.search(r'<section id="demo-progress".*?</section>', page, re.S)
        return found.group(0) if found else ""

    assert section() == ""  # no demo: nothing said
    demo = TrainedModel.objects.create(name=DEMO_MODEL, dataset="mnist", epochs=3, status=JobStatus.RUNNING,
                                       progress=0.42)
    assert "Step 1 of 3" in section() and "42%" in section()
    assert 'http-equiv="refresh"' in rita.get(reverse("admin:index")).content.decode()
    TrainedModel.objects.filter(pk=demo.pk).update(status=JobStatus.SUCCEEDED)
    job = GenerationJob.objects.create(trained_model=demo, samples_per_scheme=10, status=JobStatus.RUNNING,
                                       progress=0.5)
    assert "Step 2 of 3" in section() and "50%" in section()
    GenerationJob.objects.filter(pk=job.pk).update(status=JobStatus.FAILED, error="Out of memory.")
    assert "stopped: Out of memory." in section() and "bin/run" in section()
    assert 'http-equiv="refresh"' not in rita.get(reverse("admin:index")).content.decode()
    Campaign.objects.create(name=DEMO_CAMPAIGN, pool=study_pool)
    assert section() == ""

"""Rows whose data exists keep the settings that made it: a POST cannot change them, the page says why, and
"Copy as a new ..." opens an add form prefilled from the row instead."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from annotation.models import Campaign
from generation.models import GenerationJob, JobStatus, TrainedModel
from tests.generation.conftest import SCHEMES, make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def rita(client, researcher):
    client.force_login(researcher)
    return client


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


def job_post(job: GenerationJob, **changes) -> dict:
    data = {"trained_model": job.trained_model_id, "layer": job.layer, "schemes": json.dumps(job.schemes),
            "samples_per_scheme": job.samples_per_scheme, "seed": job.seed, "optimise_steps": job.optimise_steps}
    if job.optimise_dr:
        data["optimise_dr"] = "on"
    data.update(changes)
    return data


def test_it_keeps_a_succeeded_jobs_samples_per_scheme(rita, study_job):
    url = reverse("admin:generation_generationjob_change", args=[study_job.pk])
    response = rita.post(url, job_post(study_job, samples_per_scheme=60), follow=True)
    assert response.status_code == 200
    study_job.refresh_from_db()
    assert study_job.samples_per_scheme == 6
    said = messages_of(response)
    assert "Samples per scheme" in said and "not changed" in said and "Copy as a new job" in said
    assert "changed successfully" not in said
    page = rita.get(url).content.decode()
    assert "Copy as a new job" in page and "frozen" in page


def test_it_refuses_the_change_in_the_model_too(study_job):
    study_job.samples_per_scheme = 60
    with pytest.raises(ValidationError) as error:
        study_job.full_clean()
    assert "samples_per_scheme" in error.value.message_dict
    assert "Copy as a new job" in error.value.message_dict["samples_per_scheme"][0]


def test_it_still_edits_a_queued_job(rita, ready_model):
    job = make_job(ready_model, n=5)
    assert job.status == JobStatus.QUEUED
    rita.post(reverse("admin:generation_generationjob_change", args=[job.pk]), job_post(job, samples_per_scheme=7))
    job.refresh_from_db()
    assert job.samples_per_scheme == 7


def test_it_keeps_a_trained_models_settings(rita, ready_model):
    url = reverse("admin:generation_trainedmodel_change", args=[ready_model.pk])
    response = rita.post(url, {"name": "renamed", "dataset": "fmnist", "architecture": "mlp", "epochs": 30, "seed": 0,
                               "train_limit": 1000}, follow=True)
    assert response.status_code == 200
    ready_model.refresh_from_db()
    assert (ready_model.dataset, ready_model.epochs) == ("mnist", 1)
    assert ready_model.name == "renamed"  # a label, not the data
    said = messages_of(response)
    assert "Epochs" in said and "Dataset" in said and "not changed" in said
    ready_model.epochs = 30
    with pytest.raises(ValidationError, match="Copy as a new model"):
        ready_model.full_clean()


def test_it_keeps_a_labelled_campaigns_settings(rita, labelled_campaign, raters):
    url = reverse("admin:annotation_campaign_change", args=[labelled_campaign.pk])
    response = rita.post(url, {"name": "Round 1", "pool": labelled_campaign.pool_id, "annotators_per_image": 2,
                               "instructions": "changed", "priming_count": 4, "is_open": "on",
                               "claim_timeout_seconds": 600, "annotators": [r.pk for r in raters]}, follow=True)
    assert response.status_code == 200
    labelled_campaign.refresh_from_db()
    assert labelled_campaign.annotators_per_image == 3 and labelled_campaign.instructions != "changed"
    said = messages_of(response)
    assert "Annotators per image" in said and "not changed" in said and "Copy as a new campaign" in said
    labelled_campaign.annotators_per_image = 2
    with pytest.raises(ValidationError, match="Copy as a new campaign"):
        labelled_campaign.full_clean()


def test_it_still_edits_a_campaign_without_labels(rita, study_pool, raters):
    campaign = Campaign.objects.create(name="Round 2", pool=study_pool, annotators_per_image=4, priming_count=4)
    campaign.annotators.add(*raters)
    rita.post(reverse("admin:annotation_campaign_change", args=[campaign.pk]), {
        "name": "Round 2", "pool": study_pool.pk, "annotators_per_image": 3, "instructions": "x", "priming_count": 4,
        "is_open": "on", "claim_timeout_seconds": 600, "annotators": [r.pk for r in raters]})
    campaign.refresh_from_db()
    assert (campaign.annotators_per_image, campaign.instructions) == (3, "x")


def test_it_keeps_a_pools_draw(study_pool):
    study_pool.per_scheme = 5
    with pytest.raises(ValidationError, match="per_scheme|drawn"):
        study_pool.full_clean()


def test_it_copies_a_job_as_a_new_one(rita, study_job):
    response = rita.post(reverse("admin:generation_generationjob_changelist"),
                         {"action": "copy_as_new", "_selected_action": [study_job.pk]})
    assert response.status_code == 302
    add = rita.get(response["Location"])
    form = add.context["adminform"].form
    assert form.initial["samples_per_scheme"] == 6 and form.initial["trained_model"] == study_job.trained_model_id
    assert set(json.loads(form["schemes"].value()) if isinstance(form["schemes"].value(), str)
               else form["schemes"].value()) == set(SCHEMES)
    # Saved as it comes, then changed: a new queued job, the old one as it was.
    before = GenerationJob.objects.count()
    rita.post(add.request["PATH_INFO"] + "?" + add.request["QUERY_STRING"], job_post(study_job, samples_per_scheme=8))
    assert GenerationJob.objects.count() == before + 1
    assert GenerationJob.objects.latest("pk").samples_per_scheme == 8


def test_it_copies_a_campaign_and_a_model(rita, labelled_campaign, raters, ready_model):
    page = rita.get(reverse("admin:annotation_campaign_change", args=[labelled_campaign.pk])).content.decode()
    copy_url = reverse("admin:annotation_campaign_add") + f"?copy_of={labelled_campaign.pk}"
    assert copy_url in page
    add = rita.get(copy_url)
    assert "A copy of <strong>Round 1</strong>" in add.content.decode()
    form = add.context["adminform"].form
    assert form.initial["pool"] == labelled_campaign.pool_id and form.initial["annotators_per_image"] == 3
    assert sorted(u.pk for u in form.initial["annotators"]) == sorted(r.pk for r in raters)
    assert form.initial["name"] == "Round 1 (copy)"
    form = rita.get(reverse("admin:generation_trainedmodel_add") + f"?copy_of={ready_model.pk}").context["adminform"].form
    assert (form.initial["dataset"], form.initial["epochs"]) == ("mnist", 1)
    assert TrainedModel.objects.count() == 1

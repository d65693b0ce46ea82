"""A small study built the way a researcher builds one: a trained model, a job run by the services, a pool built
by the services, a campaign whose annotators labelled through the services.

The tiny model is the generation tests' (trained once per run on 1,000 MNIST images).
"""

from __future__ import annotations

import pytest

from annotation import services as annotation_services
from annotation.models import Campaign
from generation import services
from generation.models import GenerationJob, SamplePool, TrainedModel
from tests.factories import make_annotator
from tests.generation.conftest import (  # noqa: F401 (fixtures)
    data_root,
    make_job,
    ready_model,
    tiny_checkpoint,
    tiny_classifier,
)


def run_job(model: TrainedModel, n: int = 6) -> GenerationJob:
    job = make_job(model, n=n, optimise_dr=False)
    services.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    return job


def build_pool(job: GenerationJob, per_scheme: int = 2, attention_checks: int = 1) -> SamplePool:
    return services.build_pool(job, per_scheme=per_scheme, seed=0, name="pool", attention_checks=attention_checks,
                               accept_spottable_checks=True)


def label(campaign: Campaign, annotators, count: int, value: str = "creative") -> int:
    """Each annotator primes and labels up to `count` images through the annotation services; labels made."""
    made = 0
    for user in annotators:
        annotation_services.mark_primed(campaign, user)
        for _ in range(count):
            item = annotation_services.next_item(campaign, user)
            if item is None:
                break
            annotation_services.submit_label(campaign, user, item.public_id, value, 1000)
            made += 1
    return made


@pytest.fixture
def study_job(ready_model) -> GenerationJob:  # noqa: F811 (the imported fixture)
    return run_job(ready_model)


@pytest.fixture
def study_pool(study_job) -> SamplePool:
    return build_pool(study_job)


@pytest.fixture
def raters(db):
    return [make_annotator(f"rater{i}") for i in range(3)]


@pytest.fixture
def labelled_campaign(study_pool, raters) -> Campaign:
    campaign = Campaign.objects.create(name="Round 1", pool=study_pool, annotators_per_image=3, priming_count=4)
    campaign.annotators.add(*raters)
    annotation_services.ensure_slots(campaign)
    assert label(campaign, raters, 2) == 6
    return campaign

"""`manage.py paper_study`: the paper's human study on a trained model, one command from a launch."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from annotation.models import Campaign, CampaignItem, StudyLink
from evaluation.models import ReportSettings
from generation.models import PoolItem

pytestmark = pytest.mark.django_db


def _run(**opts) -> str:
    out = io.StringIO()
    call_command("paper_study", stdout=out, **opts)
    return out.getvalue()


def test_it_sets_up_the_protocol_and_a_study_link(ready_model):
    # the tiny test model's images are blobs that any check stands out from: accepted here, as a researcher may
    printed = _run(model=str(ready_model.pk), per_scheme=4, samples=12, attention_checks=2, quota=10,
                   attention_kind="raw", accept_spottable_checks=True)
    campaign = Campaign.objects.get(name=f"Paper study: {ready_model.name}")
    assert campaign.annotators_per_image == 9 and campaign.report_threshold() == 3
    schemes = sorted(PoolItem.objects.filter(pool=campaign.pool, sample__isnull=False)
                     .values_list("sample__scheme", flat=True))
    assert schemes == sorted(["interpolation", "low_active", "noisy", "random_flip", "regular"] * 4)
    assert PoolItem.objects.filter(pool=campaign.pool, sample__isnull=True).count() == 2  # the attention checks
    assert CampaignItem.objects.filter(campaign=campaign, capacity=9).count() == 22
    link = StudyLink.objects.get(campaign=campaign)
    assert not link.is_active and link.quota == 10
    assert f"/annotate/study/{link.link_id}/{link.secret}/" in printed
    assert "about 20 participants" in printed  # 22 images x 9 votes / 10 per participant
    # the report settings are the defaults: 3 of 9
    settings, _ = ReportSettings.objects.get_or_create(campaign=campaign)
    assert settings.threshold == 3
    # a second run reuses everything
    _run(model=ready_model.name, per_scheme=4, samples=12, attention_checks=2, quota=10, attention_kind="raw",
         accept_spottable_checks=True)
    assert Campaign.objects.filter(name=campaign.name).count() == 1 and StudyLink.objects.count() == 1


def test_it_refuses_a_model_that_does_not_exist(db):
    with pytest.raises(CommandError, match="no trained model '12345'"):
        _run(model="12345")


def test_it_refuses_checks_a_collapsed_model_would_give_away(ready_model):
    with pytest.raises(CommandError, match="reconstructions have collapsed"):
        _run(model=str(ready_model.pk), per_scheme=4, samples=12, attention_checks=2)
    assert not Campaign.objects.exists()

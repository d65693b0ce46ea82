"""A new campaign tells annotators what the four labels mean, until the researcher writes other instructions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotation.models import Campaign
from tests.factories import make_annotator

pytestmark = pytest.mark.django_db

DEFINITIONS = ["new <em>and</em> meaningful", "new, but not meaningful", "it looks like the training images",
               "you cannot tell"]


def test_it_prefills_the_add_form(client, researcher):
    client.force_login(researcher)
    page = client.get(reverse("admin:annotation_campaign_add")).content.decode()
    for label in ("Creative", "Novel but not creative", "Not novel or creative", "Inconclusive"):
        assert f"&lt;strong&gt;{label}&lt;/strong&gt;" in page


def test_it_shows_the_definitions_to_annotators(client, study_pool):
    user = make_annotator("bea")
    campaign = Campaign.objects.create(name="Round 1", pool=study_pool, annotators_per_image=3)
    campaign.annotators.add(user)
    client.force_login(user)
    page = client.get(reverse("annotation:priming", args=[campaign.pk])).content.decode()
    for definition in DEFINITIONS:
        assert definition in page
    for label in ("Creative", "Novel but not creative", "Not novel or creative", "Inconclusive"):
        assert f"<strong>{label}</strong>" in page

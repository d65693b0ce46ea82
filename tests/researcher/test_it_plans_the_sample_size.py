"""Before a campaign opens the researcher asks: with these images, annotators and assumed L1 rates, how likely is
the frozen primary test to support the hypothesis? The planner answers by simulating the report's own analysis."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from annotation.models import Campaign
from evaluation import power
from evaluation.models import ReportSettings
from tests.evaluation.builders import build_campaign, make_annotators
from tests.factories import PASSWORD

SCHEMES = ("low_active", "regular", "noisy", "random_flip")


@pytest.fixture
def planned(db) -> Campaign:
    """A campaign not yet open, on a pool of its own."""
    built, _ = build_campaign({s: [[0, 0, 9, 0]] for s in SCHEMES}, make_annotators(9))
    campaign = Campaign.objects.create(name="Round 2", pool=built.pool, annotators_per_image=9, is_open=False)
    campaign.annotators.add(*make_annotators(12, "enrolled"))
    return campaign


def ask(client, campaign, rates: dict[str, float], **values) -> str:
    query = {"images_per_scheme": 60, "annotators_per_image": 9, "annotators": 20, "simulations": 100, **values,
             **{f"rate_{s}": r for s, r in rates.items()}}
    response = client.get(reverse("evaluation:power", args=[campaign.pk]), query)
    assert response.status_code == 200
    return response.content.decode()


def power_on(page: str) -> float:
    return float(re.search(r'id="power-value">([\d.]+)%<', page).group(1)) / 100


def test_it_answers_on_the_campaign_page_before_it_opens(client, researcher, planned):
    client.login(username=researcher.username, password=PASSWORD)
    admin_page = client.get(reverse("admin:annotation_campaign_change", args=[planned.pk])).content.decode()
    assert "registered when the campaign opens" in admin_page
    assert "low_active yields more creative (L1) images than every one of regular, noisy, random_flip" in admin_page
    assert f'href="{reverse("evaluation:power", args=[planned.pk])}" id="power-planner-link"' in admin_page
    # The first visit answers for the campaign's own numbers and the default rates.
    first = client.get(reverse("evaluation:power", args=[planned.pk])).content.decode()
    assert 'id="power-answer"' in first and "Fix the values" not in first and "annotators per image (drawn from 12)" in first

    strong = ask(client, planned, {"low_active": 0.6, "regular": 0.1, "noisy": 0.1, "random_flip": 0.1})
    assert "With <strong>60</strong> images per scheme, <strong>9</strong> annotators per image" in strong
    assert power_on(strong) >= 0.9 and "100 simulated campaigns" in strong and "Monte-Carlo standard error" in strong
    # No difference at all: "beats every baseline" is supported no more often than alpha allows.
    null = ask(client, planned, dict.fromkeys(SCHEMES, 0.2))
    assert power_on(null) <= 0.05


def test_it_simulates_the_registered_family(planned):
    settings = ReportSettings.for_campaign(planned)
    rates = {"low_active": 0.45, "regular": 0.1, "noisy": 0.45, "random_flip": 0.45}  # beats one baseline only
    plan = power.Plan(60, 9, 20, rates, 0.8, 0.5, 60)
    settings.family = "all"
    every = power.simulate(settings, plan)
    settings.family = "any"
    some = power.simulate(settings, plan)
    assert every.power <= 0.1 and some.power >= 0.8
    assert some.mc_error == pytest.approx((some.power * (1 - some.power) / 60) ** 0.5)


def test_it_says_what_to_fix_in_an_impossible_plan(client, researcher, planned):
    client.login(username=researcher.username, password=PASSWORD)
    page = ask(client, planned, {"low_active": 0.3}, annotators=5)
    assert "Each image needs 9 distinct annotators" in page and 'id="power-answer"' not in page
    page = ask(client, planned, {"low_active": 1.5})
    assert "Fix the values" in page and 'value="1.5"' in page  # what was typed stays in the form

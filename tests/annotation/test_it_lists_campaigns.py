"""The annotator's campaign list: each campaign with their own progress; the done page's link lands on it."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from annotation import services
from annotation.models import Campaign, Priming
from tests.annotation.conftest import make_pool
from tests.factories import make_annotator

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def label_all(campaign: Campaign, user, limit: int | None = None) -> int:
    n = 0
    while limit is None or n < limit:
        item = services.next_item(campaign, user)
        if item is None:
            break
        services.submit_label(campaign, user, item.public_id, "novel")
        n += 1
    return n


def row(html: str, campaign: Campaign) -> str:
    match = re.search(rf'<li class="campaign" data-campaign="{campaign.pk}" data-state="(\w+)">(.*?)</li>', html, re.S)
    assert match, f"{campaign.name} is not listed"
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(2))).strip()
    return f"{match.group(1)}: {text}"


def test_it_shows_each_campaign_with_progress(training_folder, annotator):
    started = Campaign.objects.create(name="Digits", pool=make_pool(training_folder, per_scheme=2, attention_checks=0))
    new = Campaign.objects.create(name="Garments", pool=make_pool(training_folder, per_scheme=1, attention_checks=0))
    closed = Campaign.objects.create(name="Old study", pool=make_pool(training_folder, per_scheme=1, attention_checks=0))
    elsewhere = Campaign.objects.create(name="Not mine", pool=make_pool(training_folder, per_scheme=1, attention_checks=0))
    for campaign in (started, new, closed):
        campaign.annotators.add(annotator)
        Priming.objects.create(campaign=campaign, annotator=annotator)
    elsewhere.annotators.add(make_annotator("olga"))
    label_all(started, annotator, limit=3)
    label_all(closed, annotator, limit=2)
    services.ensure_slots(new)
    closed.is_open = False
    closed.save()

    html = client_for(annotator).get(reverse("annotation:index")).content.decode()
    assert row(html, started).startswith("started:")
    assert "3 of 8 images labelled" in row(html, started)
    assert "Continue labeling" in row(html, started)
    assert row(html, new).startswith("new:") and "4 images for you" in row(html, new)
    assert row(html, closed).startswith("closed:") and "You labelled 2 images" in row(html, closed)
    assert "Not mine" not in html
    # Open campaigns link to their labeling page; a closed one links nowhere.
    assert reverse("annotation:label", args=[started.pk]) in html
    assert reverse("annotation:label", args=[closed.pk]) not in html


def test_it_leads_from_the_done_page_to_the_list(training_folder, annotator):
    """With one campaign, finished, "Your campaigns" used to send the annotator back to the done page."""
    campaign = Campaign.objects.create(name="Digits", pool=make_pool(training_folder, per_scheme=1, attention_checks=0))
    campaign.annotators.add(annotator)
    Priming.objects.create(campaign=campaign, annotator=annotator)
    client = client_for(annotator)
    assert label_all(campaign, annotator) == 4

    done = client.get(reverse("annotation:done", args=[campaign.pk])).content.decode()
    link = re.search(r'<a [^>]*href="([^"]+)"[^>]*>Your campaigns</a>', done).group(1)
    response = client.get(link, follow=True)
    assert response.redirect_chain == []
    assert response.templates[0].name == "annotation/index.html"
    assert row(response.content.decode(), campaign) == "finished: Digits Finished: you labelled 4 images. Thank you!"


def test_it_opens_the_only_unfinished_campaign_after_login(training_folder, annotator):
    campaign = Campaign.objects.create(name="Digits", pool=make_pool(training_folder, per_scheme=1, attention_checks=0))
    campaign.annotators.add(annotator)
    Priming.objects.create(campaign=campaign, annotator=annotator)
    client = client_for(annotator)
    assert client.get("/")["Location"] == reverse("annotation:label", args=[campaign.pk])
    label_all(campaign, annotator)
    assert client.get("/")["Location"] == reverse("annotation:index")

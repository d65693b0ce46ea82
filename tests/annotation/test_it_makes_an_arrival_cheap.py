"""A participant's arrival, from the study link to the first image, costs a bounded number of SQL statements:
hundreds arrive within minutes when a panel study launches, while the first ones are already labelling."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotation.models import Campaign, Participant, StudyLink
from annotation.services import ensure_slots

ARRIVAL_BUDGET = 20  # SQL statements from the link to the first image


def arrive(client: Client, link: StudyLink, pid: str) -> dict:
    """What a browser does: the link (consent), agree (and follow where that leads: instructions and priming
    images), start (and follow to the labeling page), and the labeling page's first call for an image."""
    url = reverse("annotation:study", args=[link.link_id, link.secret]) + f"?PROLIFIC_PID={pid}&STUDY_ID=s&SESSION_ID=x"
    campaign = link.campaign_id
    assert client.get(url).status_code == 200
    priming = client.post(url, follow=True)
    assert priming.redirect_chain[-1][0] == reverse("annotation:priming", args=[campaign])
    for src in re.findall(r'<img[^>]* src="([^"]+)"', priming.content.decode()):  # what the page loads with it
        assert src.startswith("data:") or client.get(src).status_code == 200
    labeling = client.post(reverse("annotation:priming", args=[campaign]), follow=True)
    assert labeling.redirect_chain[-1][0] == reverse("annotation:label", args=[campaign])
    answer = client.post(reverse("annotation_api:next", args=[campaign]))
    assert answer.status_code == 200, answer.content
    return answer.json()


@pytest.fixture
def link(pool) -> StudyLink:
    campaign = Campaign.objects.create(name="Launch", pool=pool, priming_count=4, annotators_per_image=9)
    ensure_slots(campaign)
    return StudyLink.objects.create(campaign=campaign, quota=5)


# Counted outside a test transaction, as in production: the statements the site sends (BEGIN and COMMIT of its
# two short transactions, sent by the driver, are not among them).
@pytest.mark.django_db(transaction=True)
def test_it_takes_at_most_twenty_statements_from_link_to_first_image(link):
    # Someone arrived before (the first arrival of a process also fills per-process caches: the group's row).
    arrive(Client(REMOTE_ADDR="10.9.0.1"), link, "FIRST")
    client = Client(REMOTE_ADDR="10.9.0.2")
    with CaptureQueriesContext(connection) as queries:
        first = arrive(client, link, "SECOND")
    assert first["item"] is not None and first["done"] is False
    assert Participant.objects.filter(participant_id="SECOND", user__isnull=False).exists()
    statements = [q["sql"] for q in queries.captured_queries]
    print(f"{len(statements)} statements from link to first image")
    assert len(statements) <= ARRIVAL_BUDGET, "\n".join(f"{i}: {s[:160]}" for i, s in enumerate(statements))


def test_sessions_do_not_cost_a_database_query():
    assert settings.SESSION_ENGINE in ("django.contrib.sessions.backends.cache",
                                       "django.contrib.sessions.backends.cached_db")
    # Django's per-request connection check (a SELECT 1 on every request) is off: a broken connection is noticed
    # when a statement fails, and replaced at the end of that request.
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is False

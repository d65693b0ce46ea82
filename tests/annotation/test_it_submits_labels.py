"""Submitting labels through the API, and every kind of bad input: a clear 4xx and nothing stored twice."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotation.models import Label


@pytest.fixture
def client_for():
    def make(user) -> APIClient:
        client = APIClient()
        client.force_login(user)
        return client

    return make


def next_id(client: APIClient, campaign) -> str:
    response = client.post(reverse("annotation_api:next", args=[campaign.pk]))
    assert response.status_code == 200, response.content
    return response.json()["item"]["id"]


def submit(client: APIClient, campaign, body, **kwargs):
    return client.post(reverse("annotation_api:submit", args=[campaign.pk]), body, format="json", **kwargs)


def test_it_stores_a_label_with_time_spent(primed, annotator, client_for):
    client = client_for(annotator)
    item = next_id(client, primed)
    response = submit(client, primed, {"item": item, "value": "novel", "time_spent_ms": 1234})
    assert response.status_code == 201
    assert response.json()["progress"]["done"] == 1
    label = Label.objects.get()
    assert (label.item.public_id, label.value, label.time_spent_ms, label.annotator) == (item, "novel", 1234, annotator)


def test_it_works_with_token_authentication(primed, annotator):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=annotator).key}")
    item = next_id(client, primed)
    assert submit(client, primed, {"item": item, "value": "creative"}).status_code == 201
    assert Label.objects.filter(annotator=annotator).count() == 1


def test_it_refuses_an_unknown_label(primed, annotator, client_for):
    client = client_for(annotator)
    item = next_id(client, primed)
    response = submit(client, primed, {"item": item, "value": "brilliant"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_label"
    assert "creative" in response.json()["detail"]
    assert not Label.objects.exists()
    # The claim survives a typo: the right label still goes through.
    assert submit(client, primed, {"item": item, "value": "creative"}).status_code == 201


def test_it_refuses_an_image_not_assigned_to_you(primed, annotator, other_annotator, client_for):
    primed.annotators_per_image = 1  # so the two annotators hold different images
    primed.save()
    mine = next_id(client_for(annotator), primed)
    theirs = client_for(other_annotator)
    next_id(theirs, primed)
    response = submit(theirs, primed, {"item": mine, "value": "creative"})
    assert response.status_code == 409
    assert response.json()["error"] == "not_assigned"
    assert not Label.objects.exists()


def test_it_refuses_an_unknown_image(primed, annotator, client_for):
    client = client_for(annotator)
    next_id(client, primed)
    response = submit(client, primed, {"item": "no-such-image", "value": "creative"})
    assert response.status_code == 409
    assert not Label.objects.exists()


def test_it_refuses_a_double_submit(primed, annotator, client_for):
    client = client_for(annotator)
    item = next_id(client, primed)
    assert submit(client, primed, {"item": item, "value": "creative"}).status_code == 201
    response = submit(client, primed, {"item": item, "value": "novel"})
    assert response.status_code == 409
    assert response.json()["error"] == "already_labelled"
    assert list(Label.objects.values_list("value", flat=True)) == ["creative"]


def test_it_refuses_labels_in_a_closed_campaign(primed, annotator, client_for):
    client = client_for(annotator)
    item = next_id(client, primed)
    primed.is_open = False
    primed.save()
    response = submit(client, primed, {"item": item, "value": "creative"})
    assert response.status_code == 409
    assert response.json()["error"] == "campaign_closed"
    assert client.post(reverse("annotation_api:next", args=[primed.pk])).status_code == 409
    assert not Label.objects.exists()


@pytest.mark.parametrize(
    "body,content_type",
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ('{"value": "creative"}', "application/json"),
        ('{"item": 5, "value": "creative"}', "application/json"),
        ('{"item": "x", "value": "creative", "time_spent_ms": "soon"}', "application/json"),
        ('{"item": "x", "value": "creative", "time_spent_ms": -4}', "application/json"),
    ],
)
def test_it_refuses_a_malformed_body(primed, annotator, client_for, body, content_type):
    client = client_for(annotator)
    next_id(client, primed)
    response = client.post(reverse("annotation_api:submit", args=[primed.pk]), body, content_type=content_type)
    assert response.status_code == 400
    assert response.json()  # a JSON explanation, not an HTML error page
    assert not Label.objects.exists()


def test_it_requires_priming_first(campaign, annotator, client_for):
    client = client_for(annotator)
    response = client.post(reverse("annotation_api:next", args=[campaign.pk]))
    assert response.status_code == 409
    assert response.json()["error"] == "priming_required"
    assert client.post(reverse("annotation_api:primed", args=[campaign.pk])).status_code == 200
    assert next_id(client, campaign)


def test_it_reports_done_when_nothing_is_left(primed, annotator, client_for):
    client = client_for(annotator)
    n = primed.pool.items.count()
    for _ in range(n):
        assert submit(client, primed, {"item": next_id(client, primed), "value": "not_novel"}).status_code == 201
    body = client.post(reverse("annotation_api:next", args=[primed.pk])).json()
    assert body["done"] is True and body["item"] is None
    assert body["progress"] == {"done": n, "total": n}


def test_it_labels_and_gives_the_next_image_in_one_call(primed, annotator, client_for):
    client = client_for(annotator)
    item = next_id(client, primed)
    body = submit(client, primed, {"item": item, "value": "creative", "next": True}).json()
    assert body["item"]["id"] != item and body["done"] is False
    # The image handed out is now this annotator's claim: labelling it works without another /next/.
    assert submit(client, primed, {"item": body["item"]["id"], "value": "novel"}).status_code == 201
    assert Label.objects.filter(annotator=annotator).count() == 2


def _report_rows(campaign, kind: str) -> list[dict]:
    import csv
    import io

    from evaluation import csv_export
    from evaluation.reports import build_report

    text = csv_export.render(csv_export.KINDS[kind](build_report(campaign, inference=False)))
    return list(csv.DictReader(io.StringIO(text)))


def test_it_measures_the_time_itself_and_shows_researchers_the_smaller(primed, annotator, client_for):
    """A browser that says it spent an hour on an image it held for a moment: the server's interval is stored beside
    it, and researchers are shown the smaller of the two."""
    import time

    from evaluation.reports import build_report
    from generation.models import PoolItem

    client = client_for(annotator)
    while True:  # each annotator's own order may hand out the attention check first: the report's times leave it out
        started = time.monotonic()
        item = next_id(client, primed)
        if not PoolItem.objects.get(public_id=item).is_attention_check:
            break
        assert submit(client, primed, {"item": item, "value": "novel"}).status_code == 201
    time.sleep(0.3)  # the pause the stored interval must contain
    assert submit(client, primed, {"item": item, "value": "novel", "time_spent_ms": 3_600_000}).status_code == 201
    wall_ms = (time.monotonic() - started) * 1000
    label = Label.objects.get(item__public_id=item)
    assert label.time_spent_ms == 3_600_000  # what the browser said, kept as it came
    assert 300 <= label.server_time_ms <= wall_ms
    assert label.handed_at < label.created_at
    shown = build_report(primed, inference=False).annotators[0].median_time_ms
    assert shown == label.server_time_ms
    row = next(r for r in _report_rows(primed, "labels") if r["image_id"] == item)
    assert int(row["server_time_ms"]) == label.server_time_ms and int(row["time_spent_ms"]) == 3_600_000


def test_it_records_each_labels_position_in_the_annotators_sequence(primed, annotator, client_for):
    """1, 2, 3 ... per annotator; an undone label's image keeps its place when labelled again."""
    from annotation import services
    from evaluation.reports import build_report

    client = client_for(annotator)
    for _ in range(3):
        assert submit(client, primed, {"item": next_id(client, primed), "value": "novel"}).status_code == 201
    services.undo_last(primed, annotator)
    assert submit(client, primed, {"item": next_id(client, primed), "value": "creative"}).status_code == 201
    assert submit(client, primed, {"item": next_id(client, primed), "value": "novel"}).status_code == 201
    positions = sorted(Label.objects.filter(annotator=annotator).values_list("position", flat=True))
    assert positions == [1, 2, 3, 4]
    rows = _report_rows(primed, "labels")
    assert sorted(int(r["position"]) for r in rows) == [1, 2, 3, 4]
    bands = build_report(primed, inference=False).position_bands
    assert sum(b.n for b in bands) == Label.objects.filter(item__sample__isnull=False).count()
    assert all(b.l1_rate is None or 0 <= b.l1_rate <= 1 for b in bands)


def test_it_flags_labels_faster_than_the_floor(primed, annotator, client_for, settings):
    client = client_for(annotator)
    for _ in range(2):
        assert submit(client, primed, {"item": next_id(client, primed), "value": "novel",
                                       "time_spent_ms": 50}).status_code == 201
    settings.ANNOTATION_SPEEDER_FLOOR_MS = 60_000  # everything here came faster than a minute
    row = _report_rows(primed, "annotators")[0]
    assert int(row["fast_labels"]) == 2 and float(row["fast_share"]) == 1.0
    settings.ANNOTATION_SPEEDER_FLOOR_MS = 0
    assert int(_report_rows(primed, "annotators")[0]["fast_labels"]) == 0


def test_a_break_longer_than_the_claim_starts_the_images_time_again(primed, annotator, client_for):
    """Back from a break the claim has expired: the image is handed out anew, and its time counts from then."""
    from datetime import timedelta

    from django.utils import timezone

    from annotation.models import Claim

    client = client_for(annotator)
    item = next_id(client, primed)
    Claim.objects.update(claimed_at=timezone.now() - timedelta(seconds=primed.claim_timeout_seconds + 3600))
    again = next_id(client, primed)
    assert submit(client, primed, {"item": again, "value": "novel", "time_spent_ms": 3_700_000}).status_code == 201
    label = Label.objects.get()
    assert label.server_time_ms < 60_000 and timezone.now() - label.handed_at < timedelta(minutes=1)
    assert item  # the image before the break may come back; its hour away does not count

"""The registered values are kept in a hashed snapshot; after the first label neither save() nor
QuerySet.update() can move them, and the report flags any difference from the snapshot."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from annotation.models import Campaign, Label
from core.freezing import FrozenError
from evaluation.models import Registration, ReportSettings
from tests.evaluation.builders import build_campaign, make_annotators
from tests.factories import PASSWORD

VOTES = {"regular": [[0, 1, 8, 0], [1, 1, 7, 0]], "low_active": [[6, 1, 1, 1], [5, 2, 2, 0]]}


@pytest.fixture
def labelled(db):
    campaign, _ = build_campaign(VOTES, make_annotators(9), summary={})
    return campaign


def test_it_stores_a_snapshot_of_every_registered_value_with_its_hash(labelled):
    registration = Registration.objects.get(campaign=labelled)
    settings = ReportSettings.objects.get(campaign=labelled)
    assert registration.sha256 == hashlib.sha256(registration.snapshot.encode()).hexdigest()
    values = json.loads(registration.snapshot)
    assert values["rule"] == {"threshold": 3, "tie_policy": "plurality_or_none", "inconclusive": "label",
                              "confidence": 0.95}
    assert values["exclusion_rule"]["max_attention_fail_rate"] == 0.5
    assert values["hypothesis"]["target_scheme"] == "low_active"
    assert values["hypothesis"]["comparison_schemes"] == ["regular", "noisy", "random_flip"]
    assert values["hypothesis"]["family"] == "all"
    assert values["pool"]["id"] == labelled.pool_id and len(values["pool"]["images_sha256"]) == 64
    assert values["model"]["id"] == labelled.pool.job.trained_model_id
    assert values["registered_at"] == settings.registered_at.isoformat()


def test_it_re_registers_a_change_made_before_the_first_label(db):
    campaign, items = build_campaign({"regular": [[0, 0, 0, 0]]}, make_annotators(9))
    first = Registration.objects.get(campaign=campaign).sha256
    settings = ReportSettings.objects.get(campaign=campaign)
    settings.threshold = 4
    settings.save()
    again = Registration.objects.get(campaign=campaign)
    assert again.sha256 != first and json.loads(again.snapshot)["rule"]["threshold"] == 4


def test_it_refuses_a_registered_change_through_save_after_the_first_label(labelled):
    settings = ReportSettings.objects.get(campaign=labelled)
    settings.threshold = 2
    with pytest.raises(FrozenError, match="pre-registered primary analysis"):
        settings.save()
    settings = ReportSettings.objects.get(campaign=labelled)
    settings.comparison_schemes = "regular"
    with pytest.raises(FrozenError):
        settings.save()
    campaign = Campaign.objects.get(pk=labelled.pk)
    campaign.annotators_per_image = 5
    with pytest.raises(FrozenError):
        campaign.save()
    stored = ReportSettings.objects.get(campaign=labelled)
    assert (stored.threshold, stored.comparison_schemes) == (3, "regular, noisy, random_flip")
    assert Campaign.objects.get(pk=labelled.pk).annotators_per_image == 9
    # What is not registered still changes.
    campaign = Campaign.objects.get(pk=labelled.pk)
    campaign.name = "renamed"
    campaign.save()


@pytest.mark.parametrize("change", [
    {"threshold": 2}, {"tie_policy": "unique_or_none"}, {"confidence": 0.9}, {"max_attention_fail_rate": 1.0},
    {"comparison_schemes": "regular"}, {"family": "any"}, {"alpha": 0.1}, {"registered_at": None},
])
def test_it_refuses_a_registered_change_through_queryset_update_after_the_first_label(labelled, change):
    if connection.vendor != "postgresql":
        pytest.skip("the database's refusal is a PostgreSQL trigger")
    with pytest.raises(IntegrityError, match="pre-registered primary analysis"), transaction.atomic():
        ReportSettings.objects.filter(campaign=labelled).update(**change)
    name = next(iter(change))
    assert getattr(ReportSettings.objects.get(campaign=labelled), name) != change[name]


def test_it_refuses_to_move_the_snapshot_or_the_campaign_in_the_database(labelled):
    with pytest.raises(IntegrityError), transaction.atomic():
        Registration.objects.filter(campaign=labelled).update(snapshot="{}")
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.filter(pk=labelled.pk).update(annotators_per_image=3)
    # Before the first label the database lets the values move (the model re-registers them).
    fresh, _ = build_campaign({"regular": [[0, 0, 0, 0]]}, make_annotators(9, "fresh"))
    ReportSettings.objects.filter(campaign=fresh).update(threshold=4)
    assert ReportSettings.objects.get(campaign=fresh).threshold == 4


def test_deleting_every_label_does_not_reopen_the_registered_values(labelled):
    first = Campaign.objects.get(pk=labelled.pk).first_label_at
    assert first is not None
    Label.objects.filter(campaign=labelled).delete()
    settings = ReportSettings.objects.get(campaign=labelled)
    settings.threshold = 2
    with pytest.raises(FrozenError, match="labels have been given since"):
        settings.save()
    campaign = Campaign.objects.get(pk=labelled.pk)
    campaign.annotators_per_image = 5
    with pytest.raises(FrozenError, match="got its first label"):
        campaign.save()
    assert ReportSettings.register(Campaign.objects.get(pk=labelled.pk)).threshold == 3
    if connection.vendor == "postgresql":
        with pytest.raises(IntegrityError, match="pre-registered primary analysis"), transaction.atomic():
            ReportSettings.objects.filter(campaign=labelled).update(threshold=2)
        with pytest.raises(IntegrityError), transaction.atomic():
            Registration.objects.filter(campaign=labelled).update(snapshot="{}")
        # The stamp of the first label is kept: clearing or moving it is ignored.
        Campaign.objects.filter(pk=labelled.pk).update(first_label_at=None)
        assert Campaign.objects.get(pk=labelled.pk).first_label_at == first
    assert ReportSettings.objects.get(campaign=labelled).threshold == 3


def test_it_flags_a_change_that_went_around_the_database_on_the_report(client, researcher, labelled):
    client.login(username=researcher.username, password=PASSWORD)
    url = reverse("evaluation:report", args=[labelled.pk])
    page = client.get(url).content.decode()
    sha = Registration.objects.get(campaign=labelled).sha256
    assert f'<code id="snapshot-hash">{sha}</code>' in page and 'id="snapshot-match"' in page
    # Someone with the rights to switch the trigger off changes the threshold: the report says so.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # a superuser's way past every trigger
        ReportSettings.objects.filter(campaign=labelled).update(threshold=2)
        cursor.execute("SET LOCAL session_replication_role = origin")
    page = client.get(url).content.decode()
    assert 'id="snapshot-mismatch"' in page and "rule.threshold: registered 3, now 2" in page


def test_it_downloads_the_pre_registration_document(client, researcher, labelled):
    client.login(username=researcher.username, password=PASSWORD)
    registration = Registration.objects.get(campaign=labelled)
    markdown = client.get(reverse("evaluation:preregistration", args=[labelled.pk, "md"]))
    assert markdown["Content-Disposition"] == f'attachment; filename="campaign-{labelled.pk}-preregistration.md"'
    text = markdown.content.decode()
    assert text.startswith("# Pre-registration: campaign") and registration.sha256 in text
    assert "low_active yields more creative (L1) images than every one of regular, noisy, random_flip" in text
    document = client.get(reverse("evaluation:preregistration", args=[labelled.pk, "json"])).content
    # The JSON file is the snapshot itself: `sha256sum` of the download gives the registered hash.
    assert hashlib.sha256(document).hexdigest() == registration.sha256
    assert client.get(f"/reports/{labelled.pk}/preregistration.txt").status_code == 404
    report = client.get(reverse("evaluation:report", args=[labelled.pk])).content.decode()
    assert reverse("evaluation:preregistration", args=[labelled.pk, "md"]) in report

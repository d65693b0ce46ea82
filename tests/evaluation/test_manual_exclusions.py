"""A participant excluded by hand: who, when, why, and whether it came after the report was first opened;
summary.csv tells rule exclusions from manual ones, and the sensitivity table shows the analysis without the latter."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from annotation.models import Campaign, Participant
from evaluation.reports import build_report, pseudonym
from tests.evaluation.builders import build_campaign, make_annotators
from tests.factories import PASSWORD

# Annotator 0 is the panel participant excluded by hand; annotator 8 fails both attention checks (the rule).
# On [3, 2, 2, 2] annotators 0-2 vote L1: without annotators 0 and 8 no label reaches 3; with 0 kept, L1 does.
VOTES = {"regular": [[0, 1, 8, 0]] * 5, "low_active": [[3, 2, 2, 2]] * 4 + [[0, 1, 8, 0]]}
ATTENTION = [["not_novel"] * 8 + ["creative"]] * 2


@pytest.fixture
def study(db):
    annotators = make_annotators(9)
    campaign, _ = build_campaign(VOTES, annotators, attention=ATTENTION, summary={})
    one = Participant.objects.create(campaign=campaign, participant_id="P-one", user=annotators[0])
    two = Participant.objects.create(campaign=campaign, participant_id="P-two", user=annotators[1])
    return campaign, annotators, one, two


def changelist_post(client, participant: Participant, excluded: bool, reason: str):
    data = {"form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-0-id": str(participant.pk),
            "form-0-exclusion_reason": reason, "_save": "Save"}
    if excluded:
        data["form-0-excluded"] = "on"
    url = reverse("admin:annotation_participant_changelist") + f"?campaign__id__exact={participant.campaign_id}"
    return client.post(url, data)


def test_it_records_who_excluded_a_participant_when_and_why(client, researcher, study):
    campaign, annotators, one, two = study
    client.login(username=researcher.username, password=PASSWORD)
    # No reason, no exclusion: the list says why.
    response = changelist_post(client, one, True, "")
    assert response.status_code == 200 and "Say why the participant is excluded" in response.content.decode()
    one.refresh_from_db()
    assert not one.excluded and one.excluded_at is None

    assert changelist_post(client, one, True, "rejected on the panel: no attention").status_code == 302
    one.refresh_from_db()
    assert one.excluded and one.excluded_by == researcher and one.excluded_at is not None
    assert one.exclusion_reason == "rejected on the panel: no attention"

    # The report is opened (its first view is recorded), then a second participant is excluded.
    page = client.get(reverse("evaluation:report", args=[campaign.pk])).content.decode()
    assert "before the report was first opened" in page and "rejected on the panel: no attention" in page
    seen = Campaign.objects.get(pk=campaign.pk).report_first_viewed_at
    assert seen is not None and seen >= one.excluded_at
    assert changelist_post(client, two, True, "finished in two minutes").status_code == 302
    exclusions = {m.participant_id: m for m in build_report(Campaign.objects.get(pk=campaign.pk)).manual_exclusions}
    assert exclusions["P-one"].after_report is False and exclusions["P-two"].after_report is True
    assert exclusions["P-two"].by == researcher.username and exclusions["P-two"].reason == "finished in two minutes"
    client.get(reverse("evaluation:report", args=[campaign.pk]))
    assert Campaign.objects.get(pk=campaign.pk).report_first_viewed_at == seen  # written once
    # Un-excluding clears the record: the participant is back in every figure.
    assert changelist_post(client, two, False, "").status_code == 302
    two.refresh_from_db()
    assert (two.excluded, two.excluded_at, two.excluded_by) == (False, None, None)


def test_it_separates_rule_and_manual_exclusions_in_summary_csv(client, researcher, study):
    campaign, annotators, one, _ = study
    one.excluded, one.exclusion_reason = True, "rejected on the panel"
    one.save()
    by_rule, by_hand = pseudonym(campaign.pk, annotators[8].pk), pseudonym(campaign.pk, annotators[0].pk)
    client.login(username=researcher.username, password=PASSWORD)
    body = client.get(reverse("evaluation:download", args=[campaign.pk, "summary"])).content.decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    primary = [r for r in rows if r["analysis"] == "primary"]
    assert {(r["excluded_by_rule"], r["excluded_by_hand"], r["manual_exclusions"]) for r in primary} == {
        (by_rule, by_hand, "applied")}
    assert set(primary[0]["excluded_annotators"].split()) == {by_rule, by_hand}
    low = next(r for r in primary if r["scheme"] == "low_active")
    assert (low["consensus_images"], low["L1_count"]) == ("1", "0")
    # The same rule without the manual exclusion: annotator 0's L1 votes bring L1 to 3 of 8 on four images.
    kept = [r for r in rows if r["manual_exclusions"] == "not applied"]
    assert {r["scheme"] for r in kept} == {"regular", "low_active"} and all(r["analysis"] == "sensitivity" for r in kept)
    low_kept = next(r for r in kept if r["scheme"] == "low_active")
    assert (low_kept["consensus_images"], low_kept["L1_count"]) == ("5", "4")
    assert low_kept["excluded_annotators"] == by_rule and low_kept["excluded_by_hand"] == ""
    report = build_report(campaign)
    (row,) = [s for s in report.sensitivity if not s.manual_exclusions]
    assert row.schemes["low_active"] == (5, 5, 4, 0.8) and row.exclusions == "rule only"
    page = client.get(reverse("evaluation:report", args=[campaign.pk])).content.decode()
    assert page.count('<td class="text">rule only</td>') == 1

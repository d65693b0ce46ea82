"""CSV downloads round-trip through the csv module and are safe to open in a spreadsheet."""

import csv
import io
from datetime import datetime

import pytest
from django.urls import reverse

from annotation.models import Campaign
from evaluation.csv_export import safe_cell, unquote
from evaluation.reports import build_report, pseudonym
from generation.models import PoolItem
from tests.evaluation.builders import build_campaign, make_annotators
from tests.factories import PASSWORD

VOTES = {"regular": [[0, 0, 9, 0], [3, 3, 3, 0]], "low_active": [[9, 0, 0, 0], [5, 4, 0, 0], [0, 5, 0, 0]]}


@pytest.fixture
def setup(client, researcher):
    raters = make_annotators(9)
    campaign, items = build_campaign(VOTES, raters, attention=[["not_novel"] * 9])
    # Random url-safe ids can start with "-": such a cell is quoted and must still come back.
    PoolItem.objects.filter(pk=items["regular"][1].pk).update(public_id="-starts-with-a-dash")
    items["regular"][1].refresh_from_db()
    client.login(username=researcher.username, password=PASSWORD)
    return client, campaign, items, raters


def download(client, campaign: Campaign, kind: str) -> list[dict]:
    response = client.get(reverse("evaluation:download", args=[campaign.pk, kind]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f"campaign-{campaign.pk}-{kind}.csv" in response["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize("text", ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"])
def test_it_defuses_formula_cells(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("text", ["=1+2", "-abc_DEF", "'quoted", "plain", "", "'=already"])
def test_it_unquotes_what_it_defused(text):
    assert unquote(safe_cell(text)) == text


def test_it_keeps_plain_cells_and_numbers():
    assert safe_cell("regular") == "regular"
    assert safe_cell(-1.5) == -1.5
    assert safe_cell(None) == ""
    assert safe_cell(True) == "true"


def test_it_round_trips_the_summary(setup):
    client, campaign, _, _ = setup
    rows = {r["scheme"]: r for r in download(client, campaign, "summary") if r["analysis"] == "primary"}
    report = build_report(campaign)
    for scheme_row in [*report.schemes, report.overall]:
        row = rows[scheme_row.scheme]
        f = scheme_row.fractions
        assert int(row["images"]) == f.n_images
        assert int(row["no_consensus"]) == f.n_no_consensus
        for i in range(4):
            assert int(row[f"L{i + 1}_count"]) == f.counts[i]
            if f.fractions[i] is None:
                assert row[f"L{i + 1}_fraction"] == ""
            else:
                assert float(row[f"L{i + 1}_fraction"]) == f.fractions[i]
                # The interval to read crosses images and annotators; Wilson (ignoring annotators) is named so.
                assert float(row[f"L{i + 1}_low"]) == scheme_row.intervals[i].low
                assert float(row[f"L{i + 1}_high"]) == scheme_row.intervals[i].high
                assert float(row[f"L{i + 1}_wilson_low"]) == f.intervals[i].low
                assert float(row[f"L{i + 1}_wilson_high"]) == f.intervals[i].high
        boot = scheme_row.bootstrap
        for name, value, ci in [("fleiss_kappa", scheme_row.fleiss_kappa, boot.kappa),
                                ("krippendorff_alpha", scheme_row.krippendorff_alpha, boot.alpha)]:
            assert row[name] == ("" if value is None else repr(value))
            assert row[f"{name}_low"] == ("" if ci is None or value is None else repr(ci.low))
    assert float(rows["all"]["krippendorff_alpha"]) == pytest.approx(report.overall.krippendorff_alpha)
    assert float(rows["low_active"]["L1_fraction"]) == pytest.approx(2 / 3)
    assert float(rows["low_active"]["dr_amortised_mean"]) == 3.35
    assert rows["regular"]["tie_policy"] == "plurality_or_none"
    assert rows["regular"]["inconclusive"] == "label"
    assert int(rows["regular"]["threshold"]) == 3
    assert int(rows["regular"]["job_seed"]) == 11
    assert float(rows["regular"]["l1_vs_low_active_p_fisher"]) == report.tests[0].p_value
    # The counts behind each figure, Dawid-Skene's fit, the tests that do not condition on consensus.
    assert (rows["regular"]["fleiss_kappa_images"], rows["regular"]["fleiss_kappa_votes"]) == ("2", "18")
    assert rows["regular"]["fleiss_kappa"] == "" and "kappa is shown from 10" in rows["regular"]["fleiss_kappa_note"]
    assert (rows["low_active"]["krippendorff_alpha_images"], rows["low_active"]["krippendorff_alpha_votes"]) == ("3", "23")
    assert rows["low_active"]["ds_iterations"] != "" and rows["low_active"]["ds_converged"] in ("true", "false")
    assert rows["regular"]["l1_share_vs_low_active_p_permutation"] != ""
    assert float(rows["regular"]["no_consensus_share"]) == 0.5
    assert (rows["regular"]["several_reach_threshold"], rows["regular"]["tied_for_most"]) == ("1", "1")


def test_it_round_trips_the_consensus_per_image(setup):
    client, campaign, items, _ = setup
    rows = download(client, campaign, "consensus")
    by_id = {unquote(r["image_id"]): r for r in rows}
    assert len(rows) == 5  # attention checks are not images of a scheme
    tie = by_id[items["regular"][1].public_id]
    assert any(r["image_id"] == "'-starts-with-a-dash" for r in rows)
    assert [int(tie[f"votes_L{i}"]) for i in range(1, 5)] == [3, 3, 3, 0]
    assert (tie["consensus"], tie["several_reach_threshold"], tie["tied_for_most"], tie["scheme"]) == (
        "", "true", "true", "regular")
    plurality = by_id[items["low_active"][1].public_id]  # 5/4: both reach 3, the 5 wins: not tied for the most
    assert (plurality["consensus"], plurality["several_reach_threshold"], plurality["tied_for_most"]) == (
        "creative", "true", "false")
    short = by_id[items["low_active"][2].public_id]
    assert (int(short["votes"]), short["consensus"]) == (5, "novel")
    assert by_id[items["low_active"][0].public_id]["consensus"] == "creative"
    assert {(r["tie_policy"], r["threshold"], r["job_seed"], r["campaign_id"]) for r in rows} == {
        ("plurality_or_none", "3", "11", str(campaign.pk))
    }
    for scheme_items in (items["regular"], items["low_active"]):
        for item in scheme_items:
            row = by_id[item.public_id]
            assert float(row["dr_amortised"]) == item.sample.dr_amortised
            assert row["dr_optimised"] == ""  # not measured for these samples


def test_it_round_trips_the_long_format(setup):
    client, campaign, items, raters = setup
    rows = download(client, campaign, "labels")
    assert len(rows) == 9 + 9 + 9 + 9 + 5 + 9  # 5 images + 1 attention check
    first = [r for r in rows if unquote(r["image_id"]) == items["low_active"][0].public_id]
    assert {r["label"] for r in first} == {"creative"}
    assert {r["annotator"] for r in first} == {pseudonym(campaign.pk, u.pk) for u in raters}
    assert not any(u.username in r["annotator"] for r in rows for u in raters)
    assert {int(r["time_spent_ms"]) for r in rows} == {1000}
    assert all(datetime.fromisoformat(r["created_at"]) for r in rows)
    assert {r["scheme"] for r in rows} == {"regular", "low_active", "attention_check"}


def test_it_round_trips_the_annotators(setup):
    client, campaign, _, raters = setup
    rows = {r["annotator"]: r for r in download(client, campaign, "annotators")}
    report = build_report(campaign)
    assert set(rows) == {pseudonym(campaign.pk, u.pk) for u in raters}
    assert sum(int(r["labels_without_checks"]) for r in rows.values()) == 9 * 4 + 5  # attention checks not counted
    for a in report.annotators:
        row = rows[a.pseudonym]
        assert int(row["labels_without_checks"]) == a.n_labels
        assert float(row["median_time_ms"]) == 1000
        assert (int(row["agree"]), int(row["on_consensus"])) == (a.n_agree, a.n_on_consensus)
        assert float(row["agreement"]) == a.agreement
        assert float(row["agreement_others"]) == a.agreement_others
        assert (int(row["attention_seen"]), int(row["attention_failed"]), row["excluded"]) == (1, 0, "false")


def test_it_defuses_formulas_coming_from_data(client, researcher):
    campaign, _ = build_campaign({"=HYPERLINK(1)": [[9, 0, 0, 0]]}, make_annotators(9), summary={})
    client.login(username=researcher.username, password=PASSWORD)
    raw = client.get(reverse("evaluation:download", args=[campaign.pk, "summary"])).content.decode()
    rows = list(csv.DictReader(io.StringIO(raw)))
    assert rows[0]["scheme"] == "'=HYPERLINK(1)"
    assert "\n=HYPERLINK" not in raw and ",=HYPERLINK" not in raw

"""The campaign_report command writes the same CSVs as the downloads."""

import csv
import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.evaluation.builders import build_campaign, make_annotators
from tests.factories import PASSWORD


@pytest.fixture
def campaign(db):
    return build_campaign({"regular": [[0, 0, 9, 0]], "low_active": [[9, 0, 0, 0], [3, 3, 3, 0]]}, make_annotators(9))[0]


def test_it_writes_the_files_of_the_downloads(campaign, tmp_path, client, researcher):
    call_command("campaign_report", campaign.pk, "--out", str(tmp_path), stdout=io.StringIO())
    client.login(username=researcher.username, password=PASSWORD)
    for kind in ("summary", "consensus", "labels", "annotators"):
        written = (tmp_path / f"campaign-{campaign.pk}-{kind}.csv").read_bytes().decode()
        downloaded = client.get(reverse("evaluation:download", args=[campaign.pk, kind])).content.decode()
        assert written == downloaded


def test_it_prints_one_kind(campaign):
    out = io.StringIO()
    call_command("campaign_report", campaign.pk, "--kind", "summary", stdout=out)
    rows = {r["scheme"]: r for r in csv.DictReader(io.StringIO(out.getvalue()))}
    assert float(rows["low_active"]["L1_fraction"]) == 1.0
    assert int(rows["low_active"]["no_consensus"]) == 1


def test_it_explains_bad_arguments(campaign):
    with pytest.raises(CommandError, match="No campaign with id 999999"):
        call_command("campaign_report", 999999, "--kind", "summary")
    with pytest.raises(CommandError, match="--out"):
        call_command("campaign_report", campaign.pk)

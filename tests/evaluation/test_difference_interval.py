"""The interval of low-active's L1 share minus each baseline's: in summary.csv and on the report page."""

import csv
import io

import numpy as np
import pytest
from django.urls import reverse

from evaluation.reports import build_report
from evaluation.stats import two_way_bootstrap
from tests.evaluation.builders import build_campaign, make_annotators
from tests.factories import PASSWORD

# Low-active mostly creative, regular mostly not: the difference is clearly positive.
VOTES = {
    "regular": [[1, 1, 7, 0], [0, 2, 7, 0], [4, 1, 4, 0], [0, 0, 9, 0], [2, 2, 5, 0], [5, 0, 4, 0]],
    "low_active": [[7, 1, 1, 0], [5, 3, 1, 0], [6, 0, 3, 0], [1, 1, 7, 0], [8, 0, 1, 0], [4, 4, 1, 0]],
}


@pytest.fixture
def campaign(db):
    campaign, _ = build_campaign(VOTES, make_annotators(9))
    return campaign


def test_it_bootstraps_the_difference_when_it_also_bootstraps_the_aucs():
    rng = np.random.default_rng(3)
    n_items, n_annot = 30, 12
    items = np.repeat(np.arange(n_items), 9)
    annotators = np.concatenate([rng.choice(n_annot, 9, replace=False) for _ in range(n_items)])
    labels = rng.integers(0, 4, len(items))
    groups = {"low_active": np.arange(n_items) < 15, "regular": np.arange(n_items) >= 15}
    kwargs = dict(raters=9, threshold=3, tie_policy="plurality_or_none", target="low_active",
                  baselines=("regular",), resamples=200, seed=1)
    plain = two_way_bootstrap(items, annotators, labels, n_items, n_annot, groups, **kwargs)
    with_aucs = two_way_bootstrap(items, annotators, labels, n_items, n_annot, groups, **kwargs,
                                  scores={"dr": rng.random(n_items)}, auc_targets={"creative": (0,)})
    assert plain.differences["regular"] is not None
    assert with_aucs.differences == plain.differences


def test_it_writes_the_difference_interval_to_the_summary(client, researcher, campaign):
    client.login(username=researcher.username, password=PASSWORD)
    response = client.get(reverse("evaluation:download", args=[campaign.pk, "summary"]))
    rows = {r["scheme"]: r for r in csv.DictReader(io.StringIO(response.content.decode()))
            if r["analysis"] == "primary"}
    difference = build_report(campaign).tests[0].difference
    assert difference > 0
    low, high = float(rows["regular"]["l1_difference_boot_low"]), float(rows["regular"]["l1_difference_boot_high"])
    assert -1 <= low < high <= 1
    assert low < difference + 0.25 and high > difference - 0.25  # an interval around the estimate's region


def test_it_shows_the_difference_interval_on_the_page(client, researcher, campaign):
    client.login(username=researcher.username, password=PASSWORD)
    page = client.get(reverse("evaluation:report", args=[campaign.pk])).content.decode()
    table = page.split('id="tests"', 1)[1].split("</table>", 1)[0]
    row = table.split("<td>regular</td>", 1)[1].split("</tr>", 1)[0]
    difference_cell = row.split('<td class="difference">', 1)[1].split("</td>", 1)[0]
    assert "pts" in difference_cell
    assert '<span class="ci">[' in difference_cell  # the interval, not an empty span

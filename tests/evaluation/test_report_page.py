"""The report page: the table in the paper's layout, the chart, agreement and the parameters."""

import re

import pytest
from django.urls import reverse

from tests.evaluation.builders import build_campaign, make_annotators
from tests.factories import PASSWORD


@pytest.fixture
def page(client, researcher):
    votes = {"regular": [[0, 0, 9, 0], [3, 3, 3, 0]], "low_active": [[9, 0, 0, 0], [5, 4, 0, 0], [0, 9, 0, 0]]}
    campaign, _ = build_campaign(votes, make_annotators(9))
    client.login(username=researcher.username, password=PASSWORD)
    response = client.get(reverse("evaluation:report", args=[campaign.pk]))
    assert response.status_code == 200
    return response.content.decode()


def row_cells(html: str, scheme: str) -> list[str]:
    row = re.search(rf"<tr>\s*<td>{scheme}</td>(.*?)</tr>", html, re.S).group(1)
    return [re.sub(r"<[^>]+>", " ", c).split()[0] for c in re.findall(r"<td>(.*?)</td>", row, re.S)]


def test_it_renders_the_table_in_the_papers_layout(page):
    cells = row_cells(page, "low_active")
    assert cells[:4] == ["66.7%", "33.3%", "0.0%", "0.0%"]  # L1..L4
    assert cells[4:7] == ["3", "3", "0"]  # images, with a consensus, without one
    assert cells[10] == "3.350"  # amortised D_r from the job summary
    regular = row_cells(page, "regular")
    assert regular[:7] == ["0.0%", "0.0%", "100.0%", "0.0%", "2", "1", "1"]


def test_it_draws_the_chart_with_intervals(page):
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    assert svg.count("<rect") >= 8  # 4 labels x 2 schemes (+ legend)
    assert svg.count("<path") == 8  # one whisker per bar


def test_it_names_the_rule_and_the_chance_baseline(page):
    assert "plurality_or_none" in page
    assert "at least 3 of the image" in page
    assert re.search(r'id="chance-reach">0\.3993<', page)
    assert "Fisher" in page and "Holm" in page
    assert "Krippendorff" in page and "Fleiss" in page
    assert "tiny" in page and "(seed 11)" in page


def test_it_escapes_scheme_names(client, researcher):
    campaign, _ = build_campaign({"<script>x</script>": [[9, 0, 0, 0]]}, make_annotators(9), summary={})
    client.login(username=researcher.username, password=PASSWORD)
    html = client.get(reverse("evaluation:report", args=[campaign.pk])).content.decode()
    assert "<script>x</script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html


def test_it_uses_the_same_number_of_queries_for_any_size(client, researcher):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.login(username=researcher.username, password=PASSWORD)
    counts = []
    for n, prefix in ((2, "small"), (20, "large")):
        campaign, _ = build_campaign({"regular": [[0, 0, 9, 0]] * n, "low_active": [[9, 0, 0, 0]] * n}, make_annotators(9, prefix))
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("evaluation:report", args=[campaign.pk])).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_it_gives_an_overview(page):
    assert re.search(r'id="overview">45 labels \(attention checks included\) from 9 annotators on 5 images; the campaign is open', page)

"""Only researchers reach reports and downloads: annotators and strangers get 404, anonymous visitors the login page."""

import pytest
from django.urls import reverse

from tests.evaluation.builders import build_campaign, make_annotators
from tests.factories import PASSWORD


@pytest.fixture
def campaign(db):
    campaign, _ = build_campaign({"low_active": [[9, 0, 0, 0]], "regular": [[0, 0, 9, 0]]}, make_annotators(9))
    return campaign


def urls(campaign) -> list[str]:
    return [
        reverse("evaluation:index"),
        reverse("evaluation:report", args=[campaign.pk]),
        *(reverse("evaluation:download", args=[campaign.pk, kind]) for kind in ("summary", "consensus", "labels", "annotators")),
    ]


def test_it_lets_researchers_in(client, researcher, campaign):
    client.login(username=researcher.username, password=PASSWORD)
    for url in urls(campaign):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("persona", ["annotator", "stranger"])
def test_it_hides_reports_from_other_users(client, request, persona, campaign):
    user = request.getfixturevalue(persona)
    client.login(username=user.username, password=PASSWORD)
    for url in urls(campaign):
        assert client.get(url).status_code == 404, url


def test_it_sends_anonymous_visitors_to_login(client, campaign):
    for url in urls(campaign):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login"))


def test_it_gives_404_for_unknown_campaigns_and_files(client, researcher, campaign):
    client.login(username=researcher.username, password=PASSWORD)
    assert client.get(reverse("evaluation:report", args=[campaign.pk + 999])).status_code == 404
    assert client.get(reverse("evaluation:download", args=[campaign.pk, "secrets"])).status_code == 404

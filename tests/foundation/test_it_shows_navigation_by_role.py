"""The site header links each person to their own part of the site, and only to it."""

from __future__ import annotations

from tests.factories import PASSWORD

PAGE = "/accounts/login/"  # renders the base template for anyone


def nav(client) -> str:
    html = client.get(PAGE).content.decode()
    return html.split("<nav>", 1)[1].split("</nav>", 1)[0]


def test_it_links_researchers_to_admin_and_reports(client, researcher):
    client.login(username=researcher.username, password=PASSWORD)
    links = nav(client)
    assert 'href="/admin/"' in links and 'href="/reports/"' in links
    assert "Label images" not in links


def test_it_links_annotators_only_to_labeling(client, annotator):
    client.login(username=annotator.username, password=PASSWORD)
    links = nav(client)
    assert "Label images" in links
    assert "/admin/" not in links and "/reports/" not in links


def test_it_shows_strangers_no_links(client, stranger):
    client.login(username=stranger.username, password=PASSWORD)
    links = nav(client)
    assert "href=" not in links
    assert stranger.username in links


def test_it_sends_anonymous_visitors_to_login(client, db):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")

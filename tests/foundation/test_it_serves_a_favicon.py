"""A favicon for every page: linked from the site's pages, and at /favicon.ico for pages that name none (the
admin's), so no browser logs a 404 for it."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.staticfiles import finders
from PIL import Image

pytestmark = pytest.mark.django_db


def test_it_answers_favicon_ico_for_anyone(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert "public" in response["Cache-Control"]
    icon = Image.open(io.BytesIO(response.content))
    assert icon.format == "ICO" and (16, 16) in icon.info["sizes"] and (32, 32) in icon.info["sizes"]


def test_it_links_the_icons_from_the_pages(client):
    html = client.get("/accounts/login/").content.decode()
    links = re.findall(r'<link rel="icon" href="([^"]+)"', html)
    assert "/favicon.ico" in links
    svg = [link for link in links if link.endswith(".svg")]
    assert svg and finders.find(svg[0].removeprefix("/static/")) is not None

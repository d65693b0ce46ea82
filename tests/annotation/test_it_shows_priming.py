from __future__ import annotations

import io

from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from annotation.images import priming_path
from annotation.models import Priming


def test_it_shows_priming_before_the_first_label(campaign, annotator):
    client = APIClient()
    client.force_login(annotator)
    response = client.get(reverse("annotation:label", args=[campaign.pk]))
    assert response.status_code == 302 and response["Location"] == reverse("annotation:priming", args=[campaign.pk])
    page = client.get(reverse("annotation:priming", args=[campaign.pk])).content.decode()
    assert "<em>careful</em>" in page
    response = client.post(reverse("annotation:priming", args=[campaign.pk]))
    assert response["Location"] == reverse("annotation:label", args=[campaign.pk])
    assert Priming.objects.filter(campaign=campaign, annotator=annotator).exists()
    assert client.get(reverse("annotation:label", args=[campaign.pk])).status_code == 200


def test_it_builds_the_priming_grid_once(campaign, annotator):
    client = APIClient()
    client.force_login(annotator)
    path = priming_path(campaign)
    assert not path.exists()
    response = client.get(reverse("annotation:priming_image", args=[campaign.pk]))
    grid = Image.open(io.BytesIO(response.content))
    # 9 images of the folder set (64x64 each) in 3 rows of 3, with 2-pixel gutters.
    assert grid.size == (3 * 64 + 4 * 2, 3 * 64 + 4 * 2)
    assert path.exists()
    stamp = path.stat().st_mtime_ns
    assert client.get(reverse("annotation:priming_image", args=[campaign.pk])).content == response.content
    assert path.stat().st_mtime_ns == stamp


def test_it_sanitises_instructions(campaign, annotator):
    campaign.instructions = '<p onclick="x()">Read <script>alert(1)</script><a href="javascript:evil()">this</a></p>'
    campaign.save()
    client = APIClient()
    client.force_login(annotator)
    page = client.get(reverse("annotation:priming", args=[campaign.pk])).content.decode()
    assert "<script>alert" not in page and "javascript:evil" not in page and "onclick" not in page
    assert "<p>Read" in page

"""Every page and endpoint, for each persona: the member annotator, an annotator outside the campaign,
a researcher, a logged-in stranger and an anonymous visitor."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotation import services
from annotation.models import Label
from tests.factories import make_annotator

PERSONAS = ["member", "outsider", "researcher", "stranger", "anonymous"]


@pytest.fixture
def people(annotator, researcher, stranger):
    return {"member": annotator, "outsider": make_annotator("olga"), "researcher": researcher, "stranger": stranger, "anonymous": None}


def client_as(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


PAGES = {
    # name: (url builder, expected status per persona)
    "label": (lambda c, i: reverse("annotation:label", args=[c.pk]), dict(member=200, outsider=404, researcher=404, stranger=404, anonymous=302)),
    "priming": (lambda c, i: reverse("annotation:priming", args=[c.pk]), dict(member=200, outsider=404, researcher=404, stranger=404, anonymous=302)),
    "done": (lambda c, i: reverse("annotation:done", args=[c.pk]), dict(member=200, outsider=404, researcher=404, stranger=404, anonymous=302)),
    "priming_image": (lambda c, i: reverse("annotation:priming_image", args=[c.pk]), dict(member=200, outsider=404, researcher=200, stranger=404, anonymous=302)),
    "image": (lambda c, i: reverse("annotation:image", args=[i]), dict(member=200, outsider=404, researcher=200, stranger=404, anonymous=302)),
    "index": (lambda c, i: reverse("annotation:index"), dict(member=200, outsider=200, researcher=200, stranger=404, anonymous=302)),
}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("page", sorted(PAGES))
def test_it_guards_pages(primed, people, persona, page):
    build, expected = PAGES[page]
    url = build(primed, primed.pool.items.first().public_id)
    response = client_as(people[persona]).get(url)
    assert response.status_code == expected[persona], (page, persona)
    if persona == "anonymous":
        assert response["Location"].startswith(reverse("login"))


API_ACTIONS = {
    "next": ("post", dict(member=200, outsider=404, researcher=404, stranger=404, anonymous=403)),
    "submit": ("post", dict(member=201, outsider=404, researcher=404, stranger=404, anonymous=403)),
    "undo": ("post", dict(member=409, outsider=404, researcher=404, stranger=404, anonymous=403)),
    "progress": ("get", dict(member=200, outsider=404, researcher=404, stranger=404, anonymous=403)),
    "primed": ("post", dict(member=200, outsider=404, researcher=404, stranger=404, anonymous=403)),
}


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("action", sorted(API_ACTIONS))
def test_it_guards_api_endpoints(primed, people, annotator, persona, action):
    item = services.next_item(primed, annotator)  # the member holds an image, so a submit could succeed
    method, expected = API_ACTIONS[action]
    url = reverse(f"annotation_api:{action}", args=[primed.pk])
    client = client_as(people[persona])
    response = getattr(client, method)(url, {"item": item.public_id, "value": "creative"}, format="json")
    assert response.status_code == expected[persona], (action, persona, response.content)
    if persona != "member":
        assert not Label.objects.exists()


def test_it_lists_only_own_labels_for_annotators(primed, annotator, other_annotator, researcher):
    for user in (annotator, other_annotator):
        item = services.next_item(primed, user)
        services.submit_label(primed, user, item.public_id, "creative")
    url = reverse("annotation_api:labels")
    mine = client_as(annotator).get(url, {"campaign": primed.pk}).json()["results"]
    assert [label["item"] for label in mine] == [Label.objects.get(annotator=annotator).item.public_id]
    assert "annotator" not in mine[0] and "id" not in mine[0]
    everyone = client_as(researcher).get(url, {"campaign": primed.pk}).json()["results"]
    assert sorted(label["annotator"] for label in everyone) == ["anna", "otto"]


def test_it_hides_campaigns_of_others_in_the_label_list(primed, people):
    url = reverse("annotation_api:labels")
    assert client_as(people["outsider"]).get(url, {"campaign": primed.pk}).status_code == 404
    assert client_as(people["stranger"]).get(url, {"campaign": primed.pk}).status_code == 404
    assert client_as(None).get(url).status_code == 403
    assert client_as(people["member"]).get(url, {"campaign": "abc"}).status_code == 400


def test_it_hides_images_of_closed_campaigns(primed, annotator):
    url = reverse("annotation:image", args=[primed.pool.items.first().public_id])
    assert client_as(annotator).get(url).status_code == 200
    primed.is_open = False
    primed.save()
    assert client_as(annotator).get(url).status_code == 404
    assert client_as(annotator).get(reverse("annotation:label", args=[primed.pk])).status_code == 410


def test_it_serves_every_image_of_the_pool_to_members_and_researchers(primed, annotator, researcher):
    items = list(primed.pool.items.select_related("sample"))
    assert any(item.is_attention_check for item in items) and any(not item.is_attention_check for item in items)
    for user in (annotator, researcher):
        client = client_as(user)
        for item in items:
            response = client.get(reverse("annotation:image", args=[item.public_id]))
            assert response.status_code == 200, (user, item)
            assert response.content.startswith(b"\x89PNG")


def test_it_answers_404_for_unknown_and_missing_images(primed, annotator, researcher):
    assert client_as(annotator).get(reverse("annotation:image", args=["nosuchimage"])).status_code == 404
    assert client_as(researcher).get(reverse("annotation:image", args=["nosuchimage"])).status_code == 404
    item = primed.pool.items.exclude(sample=None).first()
    item.sample.image.storage.delete(item.sample.image.name)  # the file went missing on disk
    for user in (annotator, researcher):
        assert client_as(user).get(reverse("annotation:image", args=[item.public_id])).status_code == 404

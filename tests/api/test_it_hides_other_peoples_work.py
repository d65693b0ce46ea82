"""Nothing an annotator receives counts the labels others gave: no label id from the table's sequence."""

from __future__ import annotations

from django.urls import reverse

from annotation import services

from .conftest import token_client


def test_it_gives_annotators_no_label_ids(holding, other_annotator, researcher):
    client, campaign, item = holding
    # Others label first: a sequence number would tell the annotator how many.
    for _ in range(3):
        other = services.next_item(campaign, other_annotator)
        services.submit_label(campaign, other_annotator, other.public_id, "creative")
    answer = client.post(reverse("annotation_api:submit", args=[campaign.pk]),
                         {"item": item, "value": "novel", "next": True}, format="json").json()
    assert set(answer["label"]) == {"campaign", "item", "value", "time_spent_ms", "created_at"}
    mine = client.get(reverse("annotation_api:labels")).json()["results"]
    assert [set(label) for label in mine] == [{"campaign", "item", "value", "time_spent_ms", "created_at"}]
    # Researchers still see ids and annotators.
    everyone = token_client(researcher).get(reverse("annotation_api:labels")).json()["results"]
    assert len(everyone) == 4 and all({"id", "annotator"} <= set(label) for label in everyone)

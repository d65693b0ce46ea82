from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation import services
from annotation.models import CampaignItem, Label


def test_it_undoes_the_last_label_and_gives_the_image_back(primed, annotator):
    first = services.next_item(primed, annotator)
    services.submit_label(primed, annotator, first.public_id, "creative")
    services.next_item(primed, annotator)  # holds a second image now
    assert services.undo_last(primed, annotator) == first
    assert not Label.objects.exists()
    assert services.next_item(primed, annotator) == first
    slots = CampaignItem.objects.filter(campaign=primed)
    assert sum(s.claims_count for s in slots) == 1 and sum(s.labels_count for s in slots) == 0
    services.submit_label(primed, annotator, first.public_id, "novel")
    assert Label.objects.get().value == "novel"


def test_it_refuses_to_undo_an_old_label(primed, annotator):
    item = services.next_item(primed, annotator)
    services.submit_label(primed, annotator, item.public_id, "creative")
    Label.objects.update(created_at=timezone.now() - timedelta(seconds=services.UNDO_SECONDS + 1))
    with pytest.raises(services.NothingToUndo):
        services.undo_last(primed, annotator)
    assert Label.objects.count() == 1


def test_it_undoes_only_own_labels(primed, annotator, other_annotator):
    item = services.next_item(primed, annotator)
    services.submit_label(primed, annotator, item.public_id, "creative")
    with pytest.raises(services.NothingToUndo):
        services.undo_last(primed, other_annotator)
    assert Label.objects.count() == 1

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotation import services
from annotation.models import CampaignItem, Claim, Label, Priming
from tests.factories import make_annotator


def label_all(campaign, user) -> list[str]:
    seen = []
    while (item := services.next_item(campaign, user)) is not None:
        seen.append(item.public_id)
        services.submit_label(campaign, user, item.public_id, "creative")
    return seen


def test_it_never_shows_an_image_twice_to_one_annotator(primed, annotator):
    seen = label_all(primed, annotator)
    assert len(seen) == len(set(seen)) == primed.pool.items.count()
    assert services.next_item(primed, annotator) is None


def test_it_returns_the_same_claim_until_it_is_labelled(primed, annotator):
    first = services.next_item(primed, annotator)
    assert services.next_item(primed, annotator) == first
    assert Claim.objects.filter(campaign=primed, annotator=annotator).count() == 1


def test_it_caps_labels_per_image(primed, annotator):
    primed.annotators_per_image = 2
    primed.save()
    users = [annotator] + [make_annotator(f"extra{i}") for i in range(3)]
    for user in users[1:]:
        primed.annotators.add(user)
        Priming.objects.create(campaign=primed, annotator=user)
    totals = [len(label_all(primed, user)) for user in users]
    n_items = primed.pool.items.count()
    assert sum(totals) == 2 * n_items
    assert totals[-1] == 0  # everything was full before the last annotator came
    assert max(CampaignItem.objects.filter(campaign=primed).values_list("labels_count", flat=True)) == 2
    assert Label.objects.filter(campaign=primed).count() == 2 * n_items


def test_it_gives_the_least_filled_images_first(primed, annotator, other_annotator):
    first = services.next_item(primed, annotator)
    services.submit_label(primed, annotator, first.public_id, "novel")
    # The next annotator gets an image nobody has labelled yet, in their own order, not the one just labelled.
    second = services.next_item(primed, other_annotator)
    assert second != first
    assert CampaignItem.objects.get(campaign=primed, item=second).labels_count == 0


def test_it_orders_images_differently_for_each_annotator(primed, annotator, other_annotator):
    primed.annotators_per_image = 1  # so the second annotator cannot follow the first one's labels
    primed.save()
    users = [make_annotator(f"ord{i}") for i in range(4)]
    orders = []
    for user in users:
        primed.annotators.add(user)
        Priming.objects.create(campaign=primed, annotator=user)
        orders.append(services.next_item(primed, user).public_id)
        # release at once, so every annotator starts from an untouched pool
        Claim.objects.filter(annotator=user).delete()
        CampaignItem.objects.filter(campaign=primed).update(claims_count=0)
    assert len(set(orders)) > 1


def test_it_interleaves_schemes(primed, annotator):
    schemes = []
    while (item := services.next_item(primed, annotator)) is not None:
        schemes.append(item.scheme)
        services.submit_label(primed, annotator, item.public_id, "creative")
    runs = sum(1 for a, b in zip(schemes, schemes[1:], strict=False) if a != b)
    # The pool's rows lie in scheme blocks (4 changes of scheme); a shuffled order changes about 9 times.
    assert runs >= 5


def test_it_releases_abandoned_claims(primed, annotator, other_annotator):
    primed.annotators_per_image = 1
    primed.save()
    first = services.next_item(primed, annotator)
    for item in primed.pool.items.exclude(pk=first.pk):
        Label.objects.create(campaign=primed, item=item, annotator=other_annotator, value="creative")
    CampaignItem.objects.filter(campaign=primed).exclude(item=first).update(labels_count=1)
    # Full while the claim is live...
    assert services.next_item(primed, other_annotator) is None
    Claim.objects.filter(annotator=annotator).update(claimed_at=timezone.now() - timedelta(hours=1))
    # ...and free for others once it is abandoned.
    assert services.next_item(primed, other_annotator) == first
    with pytest.raises(services.NotAssigned):
        services.submit_label(primed, annotator, first.public_id, "creative")


def test_it_accepts_a_late_label_while_the_claim_is_not_yet_released(primed, annotator):
    item = services.next_item(primed, annotator)
    Claim.objects.filter(annotator=annotator).update(claimed_at=timezone.now() - timedelta(hours=1))
    label = services.submit_label(primed, annotator, item.public_id, "novel")
    assert label.item == item
    assert label.time_spent_ms >= 3_600_000 - 1000

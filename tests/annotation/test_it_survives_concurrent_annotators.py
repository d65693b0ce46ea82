"""32 annotators label one pool at the same time, each thread on its own PostgreSQL connection."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from django.db import connection

from annotation import services
from annotation.models import CampaignItem, Claim, Label, Priming
from tests.annotation.conftest import make_pool, make_training_folder
from tests.factories import make_annotator

N_ANNOTATORS = 32


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("candidates", [services.PICK_CANDIDATES, 2], ids=["default", "two-candidates"])
def test_it_survives_concurrent_annotators(tmp_path, monkeypatch, candidates):
    """With two candidates per attempt nearly every attempt finds its candidates locked by others: the retries."""
    from annotation.models import Campaign

    monkeypatch.setattr(services, "PICK_CANDIDATES", candidates)

    pool = make_pool(make_training_folder(tmp_path, n=4), per_scheme=8, attention_checks=2)
    campaign = Campaign.objects.create(name="race", pool=pool)
    users = [make_annotator(f"a{i:02d}") for i in range(N_ANNOTATORS)]
    campaign.annotators.add(*users)
    Priming.objects.bulk_create([Priming(campaign=campaign, annotator=u) for u in users])
    services.ensure_slots(campaign)

    stored: dict[int, list[str]] = {u.pk: [] for u in users}
    errors: list[BaseException] = []
    start = threading.Barrier(N_ANNOTATORS)

    def work(user) -> None:
        rng = random.Random(user.pk)
        # Half of them label the way the labeling page does: the submit also hands out the next image.
        combined = user.pk % 2 == 0
        try:
            start.wait()
            labelled_once = False
            while True:
                try:
                    item = services.next_item(campaign, user, holds_nothing=combined and labelled_once)
                except services.Busy:
                    continue
                labelled_once = True
                if item is None:
                    break
                services.submit_label(campaign, user, item.public_id, rng.choice(["creative", "novel", "not_novel"]))
                stored[user.pk].append(item.public_id)
                if rng.random() < 0.1:  # change of mind: undo, then label the same image again
                    again = services.undo_last(campaign, user)
                    assert again.public_id == stored[user.pk].pop()
                    services.submit_label(campaign, user, again.public_id, "inconclusive")
                    stored[user.pk].append(again.public_id)
                if rng.random() < 0.05:  # a double submit must be refused, not stored
                    with pytest.raises(services.AlreadyLabelled):
                        services.submit_label(campaign, user, item.public_id, "creative")
        except BaseException as exc:  # noqa: BLE001 - reported below with the thread's user
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors[:3]
    assert not any(t.is_alive() for t in threads)

    labels = list(Label.objects.filter(campaign=campaign).values_list("annotator_id", "item__public_id"))
    per_item = Counter(public_id for _, public_id in labels)
    n_items = pool.items.count()
    # The pool completes, and never beyond 9.
    assert len(per_item) == n_items
    assert set(per_item.values()) == {9}
    # Nobody labels an image twice.
    assert len(set(labels)) == len(labels)
    # Every label a caller was told was stored is there, and nothing else.
    assert sorted(labels) == sorted((pk, pid) for pk, ids in stored.items() for pid in ids)
    # The counters that assignment trusts agree with the rows.
    for slot in CampaignItem.objects.filter(campaign=campaign).select_related("item"):
        assert slot.labels_count == per_item[slot.item.public_id]
        assert slot.claims_count == 0
    assert not Claim.objects.filter(campaign=campaign).exists()

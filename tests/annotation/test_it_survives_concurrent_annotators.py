"""32 annotators label one pool at the same time, each thread on its own PostgreSQL connection."""

from __future__ import annotations

import random
import statistics
import threading
from collections import Counter

import pytest
from django.db import connection

from annotation import services
from annotation.models import CampaignItem, Claim, Label, Priming
from tests.annotation.conftest import make_pool, make_training_folder
from tests.factories import make_annotator

N_ANNOTATORS = 32


def primed_campaign(tmp_path, name: str, prefix: str, n_annotators: int, per_scheme: int, checks: int):
    """A campaign whose annotators are all primed, with its slots made: (campaign, annotators)."""
    from annotation.models import Campaign

    pool = make_pool(make_training_folder(tmp_path, n=4), per_scheme=per_scheme, attention_checks=checks)
    campaign = Campaign.objects.create(name=name, pool=pool)
    users = [make_annotator(f"{prefix}{i:02d}") for i in range(n_annotators)]
    campaign.annotators.add(*users)
    Priming.objects.bulk_create([Priming(campaign=campaign, annotator=u) for u in users])
    services.ensure_slots(campaign)
    return campaign, users


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("candidates", [services.PICK_CANDIDATES, 2], ids=["default", "two-candidates"])
def test_it_survives_concurrent_annotators(tmp_path, monkeypatch, candidates):
    """With two candidates per attempt nearly every attempt finds its candidates locked by others: the retries."""
    monkeypatch.setattr(services, "PICK_CANDIDATES", candidates)
    campaign, users = primed_campaign(tmp_path, "race", "a", N_ANNOTATORS, per_scheme=8, checks=2)

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
    n_items = campaign.pool.items.count()
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


N_ORDER_ANNOTATORS = 16


def median_order_rho(orders: dict[int, list[str]]) -> float:
    """The median, over pairs of annotators, of Spearman's rho between their orders on the images both labelled."""
    from itertools import combinations

    from scipy.stats import spearmanr

    rhos = []
    for a, b in combinations(orders.values(), 2):
        common = set(a) & set(b)
        if len(common) < 5:
            continue
        rank_a = [i for i, pid in enumerate(a) if pid in common]
        place_b = {pid: i for i, pid in enumerate(b)}
        rank_b = [place_b[pid] for pid in a if pid in common]
        rhos.append(spearmanr(rank_a, rank_b).statistic)
    return statistics.median(rhos)


@pytest.mark.django_db(transaction=True)
def test_it_gives_each_annotator_their_own_order_while_images_fill(tmp_path):
    """16 annotators at once: each one's order is their own (median inter-annotator rho <= 0.2), and still no image
    gets more than its votes and nobody sees an image twice."""
    campaign, users = primed_campaign(tmp_path, "orders", "o", N_ORDER_ANNOTATORS, per_scheme=15, checks=4)
    orders: dict[int, list[str]] = {u.pk: [] for u in users}
    errors: list[BaseException] = []
    start = threading.Barrier(N_ORDER_ANNOTATORS)

    def work(user) -> None:
        try:
            start.wait()
            while True:
                try:
                    item = services.next_item(campaign, user)
                except services.Busy:
                    continue
                if item is None:
                    break
                services.submit_label(campaign, user, item.public_id, "novel")
                orders[user.pk].append(item.public_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors[:3]
    labels = list(Label.objects.filter(campaign=campaign).values_list("annotator_id", "item__public_id"))
    per_item = Counter(public_id for _, public_id in labels)
    over = sum(max(0, n - campaign.annotators_per_image) for n in per_item.values())
    repeats = len(labels) - len(set(labels))
    rho = median_order_rho(orders)
    print(f"\n{N_ORDER_ANNOTATORS} annotators, {campaign.pool.items.count()} images: median inter-annotator rho {rho:.3f}, "
          f"over-assignments {over}, repeats {repeats}")
    assert over == 0 and repeats == 0
    assert set(per_item.values()) == {campaign.annotators_per_image} and len(per_item) == campaign.pool.items.count()
    assert rho <= 0.2

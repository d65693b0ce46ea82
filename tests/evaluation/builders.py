"""Campaigns built row by row, with hand-chosen votes, for the evaluation tests."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import User

from annotation.models import Campaign, Label
from generation.models import GenerationJob, PoolItem, Sample, SamplePool, TrainedModel
from tests.factories import make_annotator

LABELS = ("creative", "novel", "not_novel", "inconclusive")

DR_SUMMARY = {
    "regular": {"n": 10000, "dr_amortised_mean": 1.24, "dr_optimised_mean": 0.03},
    "noisy": {"n": 10000, "dr_amortised_mean": 1.26, "dr_optimised_mean": 0.04},
    "random_flip": {"n": 10000, "dr_amortised_mean": 2.07, "dr_optimised_mean": 0.5},
    "low_active": {"n": 10000, "dr_amortised_mean": 3.35, "dr_optimised_mean": 1.1},
}


def make_annotators(n: int, prefix: str = "rater") -> list[User]:
    return [make_annotator(f"{prefix}{i}") for i in range(n)]


def build_campaign(
    votes: dict[str, Sequence[Sequence[int]]],
    annotators: list[User],
    *,
    attention: Sequence[Sequence[str | None]] = (),
    summary: dict | None = None,
    annotators_per_image: int = 9,
    times_ms: int | None = 1000,
) -> tuple[Campaign, dict[str, list[PoolItem]]]:
    """A campaign over a pool whose images got exactly `votes` (per scheme: one 4-count vote row per image).

    Annotator j gives the j-th vote of the row expanded in label order (so [3, 3, 3, 0] is raters 0-2
    L1, 3-5 L2, 6-8 L3). `attention`: per attention-check item, the label each annotator gave (None: no label).
    """
    model = TrainedModel.objects.create(name="tiny", status="succeeded", seed=7)
    job = GenerationJob.objects.create(
        trained_model=model, seed=11, samples_per_scheme=10000, status="succeeded", summary=summary if summary is not None else DR_SUMMARY
    )
    pool = SamplePool.objects.create(job=job, name="pool", per_scheme=1, seed=5)
    items: dict[str, list[PoolItem]] = {}
    given: list[tuple[PoolItem, list[str | None]]] = []  # per item, the label of each annotator
    position = 0
    for scheme, rows in votes.items():
        for index, row in enumerate(rows):
            sample = Sample.objects.create(job=job, scheme=scheme, index=index, dr_amortised=1.0 + index / 8)
            item = PoolItem.objects.create(pool=pool, position=position, sample=sample)
            position += 1
            items.setdefault(scheme, []).append(item)
            values = [LABELS[k] for k, count in enumerate(row) for _ in range(count)]
            if len(values) > len(annotators):
                raise ValueError("more votes than annotators")
            given.append((item, values))
    for answers in attention:
        item = PoolItem.objects.create(pool=pool, position=position)
        position += 1
        items.setdefault("attention_check", []).append(item)
        given.append((item, list(answers)))
    # The campaign opens on a complete pool (as in use: a pool is built before a campaign takes it), so what it
    # registers is the pool the labels are on.
    campaign = Campaign.objects.create(name="campaign", pool=pool, annotators_per_image=annotators_per_image)
    Label.objects.bulk_create(
        Label(campaign=campaign, item=item, annotator=annotators[j], value=value, time_spent_ms=times_ms)
        for item, values in given for j, value in enumerate(values) if value is not None
    )
    return campaign, items


def set_report_settings(campaign: Campaign, **values) -> None:
    """Give a built campaign other report settings, as if they had been in force when it opened: its labels are
    lifted out and its first-label stamp cleared (a database superuser's way past the triggers that keep it: a
    fixture rewriting its own history), the settings saved (and registered, as before a first label), and the labels
    put back as they were (the model and the database refuse a change of registered settings once a label was given)."""
    from django.db import connection, transaction

    from evaluation.models import ReportSettings

    with transaction.atomic():
        labels = list(Label.objects.filter(campaign=campaign))
        Label.objects.filter(campaign=campaign).delete()
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL session_replication_role = replica")
            Campaign.objects.filter(pk=campaign.pk).update(first_label_at=None)
            if connection.vendor == "postgresql":
                cursor.execute("SET LOCAL session_replication_role = origin")
        campaign.first_label_at = None
        settings = ReportSettings.for_campaign(campaign)
        for name, value in values.items():
            setattr(settings, name, value)
        settings.save()
        Label.objects.bulk_create(labels)

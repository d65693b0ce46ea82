"""The figures of a report from its vote tables: per-scheme rows, surrogate-metric AUCs, the gallery, the sensitivity
analyses (every tie policy x treatment of "inconclusive", and without the exclusions made by hand)."""

from __future__ import annotations

import numpy as np

from annotation.models import Campaign, Participant

from .. import intervals, stats
from ..models import ReportSettings
from ..stats import Interval
from .common import (
    ATTENTION_SCHEME,
    AUC_TARGETS,
    GALLERY_SIZE,
    INCONCLUSIVE,
    LABEL_INDEX,
    METRICS,
    PERMUTATION_SEED,
    TARGET_SCHEME,
)
from .rows import GalleryImage, GalleryRow, ManualExclusion, MetricAUC, SchemeRow, SensitivityRow


def _shares(counts: tuple[int, ...]) -> tuple[float | None, ...]:
    total = sum(counts)
    return tuple((c / total) if total else None for c in counts)


def _scheme_row(
    name: str,
    table: np.ndarray,
    result: stats.Consensus,
    ds: tuple[np.ndarray, np.ndarray, int | None, bool | None],
    n_unlabelled: int,
    dr: dict | None,
    settings: ReportSettings,
    expected: int,
    bootstrap: stats.GroupBootstrap,
) -> SchemeRow:
    ds_share, ds_tied, ds_iterations, ds_converged = ds
    have = result.labels != stats.NO_CONSENSUS
    ds_counts = tuple(float(ds_share[have, k].sum()) for k in range(stats.N_LABELS))
    n_images = len(result.labels)
    votes = table.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = table[votes > 0, 0] / votes[votes > 0]
    return SchemeRow(
        scheme=name,
        fractions=stats.label_fractions(result, expected, settings.confidence),
        n_unlabelled=n_unlabelled,
        dr_n=(dr or {}).get("n"),
        dr_amortised=(dr or {}).get("dr_amortised_mean"),
        dr_optimised=(dr or {}).get("dr_optimised_mean"),
        agreement=stats.agreement(table, expected),
        bootstrap=bootstrap,
        l1_share=float(shares.mean()) if len(shares) else None,
        ds_counts=ds_counts,
        ds_fractions=_shares(ds_counts),
        ds_all_fractions=tuple(float(ds_share[:, k].sum()) / n_images if n_images else None
                               for k in range(stats.N_LABELS)),
        ds_iterations=ds_iterations,
        ds_converged=ds_converged,
        ds_ties=int(ds_tied.sum()),
    )


def _metric_aucs(labels: np.ndarray, metric_values: dict[str, np.ndarray], crossed: intervals.CampaignIntervals | None,
                 boot: dict[tuple[str, str], Interval | None]) -> list[MetricAUC]:
    """Per metric and class, the AUC over the images with a consensus and a value of the metric, with its interval
    (images and annotators crossed) and the within-scheme AUC beside it (`crossed`: None when the report skips the
    inference), and the two-way bootstrap's interval (`boot`, by (metric, class))."""
    out = []
    empty = intervals.AUCEstimate(None, None, 0, 0)
    names = dict(METRICS)
    for name, values in metric_values.items():
        use = (labels != stats.NO_CONSENSUS) & np.isfinite(values)
        for target, target_name, classes in AUC_TARGETS:
            positive = np.isin(labels[use], classes)
            constant = len(np.unique(values[use])) == 1
            both = 0 < positive.sum() < len(positive)
            # A metric with one value for every image tells nothing apart: no AUC (0.5 would read as "chance").
            auc = stats.auc(values[use], positive) if both and not constant else None
            pooled = crossed.aucs.get((name, target), empty) if crossed else empty
            within = crossed.within_aucs.get((name, target), empty) if crossed else empty
            # Without pairs of both classes inside one scheme, or with a metric constant there, there is no within AUC.
            within_ok = auc is not None and within.value is not None and within.interval is not None
            out.append(MetricAUC(
                metric=name, metric_name=names[name], target=target, target_name=target_name,
                n_images=int(use.sum()), n_positive=int(positive.sum()), auc=auc,
                interval=pooled.interval if auc is not None else None,
                why_none="" if auc is not None else "needs both classes" if not both else
                f"the same value ({float(values[use][0]):g}) for every image",
                boot_interval=boot.get((name, target)) if auc is not None else None,
                within_auc=within.value if within_ok else None, within_interval=within.interval if within_ok else None,
                within_n_images=within.n_images, within_n_positive=within.n_positive,
            ))
    return out


def _gallery_row(scheme: str, table: np.ndarray, labels: np.ndarray, public_ids: list[str]) -> GalleryRow:
    """The scheme's images with consensus L1 (and L2), strongest first: by the share of votes for that label,
    then by the number of them, then in pool order."""

    def strongest(k: int) -> tuple[int, list[GalleryImage]]:
        chosen = [GalleryImage(public_ids[i], int(table[i, k]), int(table[i].sum())) for i in np.flatnonzero(labels == k)]
        ranked = sorted(enumerate(chosen), key=lambda p: (-p[1].share, -p[1].votes_for, p[0]))
        return len(chosen), [image for _, image in ranked[:GALLERY_SIZE]]

    n_creative, creative = strongest(0)
    n_novel, novel = strongest(1)
    return GalleryRow(scheme, n_creative, n_novel, creative, novel)


def _subset(result: stats.Consensus, mask: np.ndarray) -> stats.Consensus:
    return stats.Consensus(labels=result.labels[mask], votes=result.votes[mask], several=result.several[mask],
                           tied_top=result.tied_top[mask])


def _l1_shares(table: np.ndarray, schemes: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
    """Per scheme, each image's share of L1 votes among its votes in the table (images with none left out)."""
    votes = table.sum(axis=1)
    has = votes > 0
    share = np.zeros(len(table))
    share[has] = table[has, 0] / votes[has]
    return {name: share[has & (schemes == name)] for name in names}


def _sensitivity(
    tables: dict[str, np.ndarray], schemes: np.ndarray, names: list[str], settings: ReportSettings, inference: bool,
) -> list[SensitivityRow]:
    """Every tie policy x treatment of "inconclusive", the primary analysis first."""
    baselines = [n for n in names if n != TARGET_SCHEME]
    share_tests = {
        inconclusive: stats.l1_share_tests(_l1_shares(table, schemes, names), TARGET_SCHEME, baselines,
                                           seed=PERMUTATION_SEED) if TARGET_SCHEME in names and inference else []
        for inconclusive, table in tables.items()
    }
    rows = []
    for inconclusive in (settings.inconclusive, *[v for v in tables if v != settings.inconclusive]):
        for policy in (settings.tie_policy, *[p.value for p in stats.TiePolicy if p.value != settings.tie_policy]):
            labels = stats.consensus(tables[inconclusive], settings.threshold, policy).labels
            per_scheme = {}
            for name in names:
                mine = labels[schemes == name]
                n_cons = int((mine != stats.NO_CONSENSUS).sum())
                l1 = int((mine == 0).sum())
                per_scheme[name] = (len(mine), n_cons, l1, l1 / n_cons if n_cons else None)
            tests = (stats.fisher_l1_tests(TARGET_SCHEME, {n: (c[2], c[1]) for n, c in per_scheme.items()}, baselines)
                     if TARGET_SCHEME in names else [])
            primary = policy == settings.tie_policy and inconclusive == settings.inconclusive
            rows.append(SensitivityRow(policy, inconclusive, primary, per_scheme, tests, share_tests[inconclusive]))
    return rows


def _crossed_intervals(
    items: np.ndarray, annotators: np.ndarray, labels: np.ndarray, n: int, groups: dict[str, np.ndarray],
    baselines: list[str], settings: ReportSettings, metric_values: dict[str, np.ndarray], image_schemes: np.ndarray,
) -> intervals.CampaignIntervals:
    """The primary analysis's intervals, images and annotators crossed (evaluation.intervals)."""
    votes = intervals.crossed_votes(items, annotators, labels, n, settings.threshold, settings.tie_policy)
    strata = np.unique(image_schemes.astype(str), return_inverse=True)[1] if n else np.zeros(0, dtype=np.int64)
    return intervals.campaign_intervals(
        votes, groups, target=TARGET_SCHEME, baselines=tuple(baselines), confidence=settings.confidence,
        scores=metric_values, auc_targets={target: classes for target, _, classes in AUC_TARGETS}, strata=strata,
    )


def _manual_exclusion(campaign: Campaign, participant: Participant, name: str) -> ManualExclusion:
    seen = campaign.report_first_viewed_at
    at = participant.excluded_at
    return ManualExclusion(
        pseudonym=name, participant_id=participant.participant_id,
        by=participant.excluded_by.get_username() if participant.excluded_by else "not recorded", at=at,
        reason=participant.exclusion_reason or "not recorded",
        after_report=None if at is None else (seen is not None and at >= seen))


def _without_manual_exclusions(raw: list, item_meta: dict, rule_ids: set[int], names: list[str],
                               settings: ReportSettings, inference: bool) -> SensitivityRow:
    """The primary rule over the labels of everyone the exclusion rule keeps, those excluded by hand included."""
    counted = [(item_id, LABEL_INDEX[value]) for item_id, user_id, value, _, _ in raw
               if user_id not in rule_ids and item_meta[item_id][1] != ATTENTION_SCHEME]
    items = sorted({item_id for item_id, _ in counted})
    index_of = {pk: i for i, pk in enumerate(items)}
    table = stats.vote_table(np.array([index_of[i] for i, _ in counted], dtype=np.int64),
                             np.array([k for _, k in counted], dtype=np.int64), len(items))
    if settings.abstain_inconclusive:
        table[:, LABEL_INDEX[INCONCLUSIVE]] = 0
    schemes = np.array([item_meta[pk][1] for pk in items], dtype=object)
    row = _sensitivity({settings.inconclusive: table}, schemes, names, settings, inference)[0]
    row.primary, row.manual_exclusions = False, False
    return row

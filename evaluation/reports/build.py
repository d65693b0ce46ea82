"""`build_report`: a campaign's labels in, its Report out, as a pipeline of named steps.

gather the labels -> exclude annotators (attention checks, by hand) -> tally the votes and the consensus ->
Dawid-Skene per scheme -> inference (the two-way bootstrap, the crossed intervals) -> per-scheme rows ->
sensitivity analyses and the verdict -> annotators -> images -> surrogate metrics -> gallery -> the labels, long.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

from annotation.models import Campaign
from generation.models import GenerationJob

from .. import collection, hypothesis, intervals, stats
from ..models import Registration, ReportSettings
from .common import (
    ATTENTION_EXPECTED,
    ATTENTION_SCHEME,
    AUC_TARGETS,
    BOOTSTRAP_RESAMPLES,
    BOOTSTRAP_SEED,
    INCONCLUSIVE,
    LABEL_INDEX,
    LABELS,
    METRICS,
    TARGET_SCHEME,
    attention_kind,
    ordered_schemes,
    pseudonym,
    scheme_dr,
)
from .figures import (
    _crossed_intervals,
    _gallery_row,
    _l1_shares,
    _manual_exclusion,
    _metric_aucs,
    _scheme_row,
    _sensitivity,
    _subset,
    _without_manual_exclusions,
)
from .report import Report
from .rows import AnnotatorRow, GalleryRow, ImageRow, LabelRow, MetricAUC, SchemeRow, SensitivityRow
from .votes import Exclusions, Gathered, Votes, exclusions, gather, tally


def build_report(campaign: Campaign, settings: ReportSettings | None = None, *, inference: bool = True) -> Report:
    """The report of a campaign. `inference=False` skips the bootstrap and the permutation tests (their intervals
    and p-values are left empty): for the files that show none of them (consensus, labels, annotators)."""
    settings = settings or ReportSettings.for_campaign(campaign)
    pool = campaign.pool
    job = pool.job
    model = job.trained_model
    expected = campaign.annotators_per_image

    gathered = gather(campaign)
    excluded = exclusions(campaign, gathered, settings)
    votes = tally(gathered, excluded, settings)
    schemes = schemes_of(job, votes)
    ds = fit_dawid_skene(votes, schemes)
    inferred = infer(gathered, votes, schemes, settings, expected, inference)
    rows, overall = scheme_rows(votes, schemes, ds, inferred, settings, expected)
    chance = stats.chance_baseline(votes.cast.sum(axis=1), settings.threshold, settings.tie_policy,
                                   abstain=settings.abstain_inconclusive, default_raters=expected)
    sensitivity, verdict = sensitivity_and_verdict(gathered, votes, schemes, excluded, settings, inference)
    registration = Registration.objects.filter(campaign=campaign).first()
    primary, has_target = sensitivity[0], TARGET_SCHEME in schemes.names
    names = {uid: pseudonym(campaign.pk, uid) for uid in votes.user_ids}
    floor = collection.speeder_floor_ms()
    annotators = annotator_rows(gathered, votes, excluded, settings, names, floor)
    images = image_rows(gathered, votes, ds)
    metric_aucs = metric_figures(rows, overall, votes, schemes, inferred)
    gallery = gallery_rows(votes, schemes)
    long, bands = label_rows(campaign, gathered, votes, excluded, names)

    return Report(
        campaign=campaign,
        settings=settings,
        annotators_per_image=expected,
        model_name=model.name,
        model_id=model.pk,
        dataset=model.dataset,
        job_id=job.pk,
        job_seed=job.seed,
        pool_name=pool.name,
        pool_seed=pool.seed,
        schemes=rows,
        overall=overall,
        chance=chance,
        tests=primary.tests if has_target else [],
        share_tests=primary.share_tests if has_target else [],
        differences=inferred.crossed.differences if inferred.crossed else {},
        boot_differences=inferred.boot.differences,
        sensitivity=sensitivity,
        attention_kind=attention_kind(pool),
        annotators=annotators,
        excluded=sorted(names[uid] for uid in excluded.excluded_ids),
        images=images,
        labels=long,
        metric_aucs=metric_aucs,
        gallery=gallery,
        verdict=verdict,
        snapshot=registration,
        registration_mismatches=hypothesis.mismatches(registration, settings) if registration else [],
        excluded_by_rule=sorted(names[uid] for uid in excluded.rule_ids),
        excluded_by_hand=sorted(names[uid] for uid in excluded.manual_ids),
        manual_exclusions=[_manual_exclusion(campaign, p, names.get(p.user_id, "")) for p in excluded.by_hand],
        position_bands=bands,
        # Every annotator's: a kind of check that everyone fails is the checks' fault, and excluding would hide it.
        check_kinds=collection.failures_by_kind(campaign, ATTENTION_EXPECTED),
        check_quality=collection.check_quality_sentence(pool),
        speeder_floor_ms=floor,
    )


@dataclass(frozen=True)
class Schemes:
    dr: dict[str, dict]  # mean D_r per scheme over all the job's samples
    names: list[str]  # in the paper's order
    masks: dict[str, np.ndarray]  # the scheme's rows of the vote tables


def schemes_of(job: GenerationJob, votes: Votes) -> Schemes:
    dr = scheme_dr(job)
    scheme_names = ordered_schemes({s for _, _, s in votes.sample_items} | set(dr))
    masks = {name: votes.image_schemes == name if votes.n else np.zeros(0, dtype=bool) for name in scheme_names}
    return Schemes(dr, scheme_names, masks)


@dataclass(frozen=True)
class DawidSkeneLabels:
    labels: np.ndarray  # (images,) the most probable label, or NO_CONSENSUS
    posteriors: np.ndarray  # (images, 4)
    fits: dict[str, tuple[int | None, bool | None]]  # per scheme: iterations, converged
    share: np.ndarray  # (images, 4) each image's label as shares (split among tied labels)
    tied: np.ndarray  # (images,) the posteriors tie for the largest


def fit_dawid_skene(votes: Votes, schemes: Schemes) -> DawidSkeneLabels:
    """Dawid-Skene per scheme: each scheme has its own class prior (low-active images are not regular ones)."""
    n, k_items, k_users, k_labels = votes.n, votes.k_items, votes.k_users, votes.k_labels
    ds_labels = np.full(n, stats.NO_CONSENSUS, dtype=np.int64)
    ds_posteriors = np.zeros((n, stats.N_LABELS))
    ds_fits: dict[str, tuple[int | None, bool | None]] = {}
    for name, mask in schemes.masks.items():
        local = np.full(n, -1, dtype=np.int64)
        local[mask] = np.arange(int(mask.sum()))
        mine = mask[k_items] if n else np.zeros(0, dtype=bool)
        if not mask.any():
            ds_fits[name] = (None, None)
            continue
        fit = stats.dawid_skene(local[k_items[mine]], k_users[mine], k_labels[mine], int(mask.sum()),
                                len(votes.user_ids), prior=(stats.DS_PRIOR_RIGHT, stats.DS_PRIOR_WRONG))
        ds_labels[mask], ds_posteriors[mask] = fit.labels, fit.posteriors
        ds_fits[name] = (fit.iterations, fit.converged)
    ds_share, ds_tied = stats.ds_shares(ds_posteriors, ds_labels != stats.NO_CONSENSUS)
    return DawidSkeneLabels(ds_labels, ds_posteriors, ds_fits, ds_share, ds_tied)


@dataclass(frozen=True)
class Inference:
    metric_values: dict[str, np.ndarray]  # per metric, one value per image (NaN: none)
    boot: stats.TwoWayBootstrap
    crossed: intervals.CampaignIntervals | None  # None: the report skips the inference


def infer(gathered: Gathered, votes: Votes, schemes: Schemes, settings: ReportSettings, expected: int,
          inference: bool) -> Inference:
    """One two-way bootstrap for every interval of the primary analysis, the surrogate-metric AUCs included, and the
    intervals with images and annotators crossed."""
    n, sample_metrics, masks = votes.n, gathered.sample_metrics, schemes.masks
    metric_values = {name: np.array([np.nan if sample_metrics[pk][name] is None else sample_metrics[pk][name]
                                     for pk, _, _ in votes.image_items], dtype=float) for name, _ in METRICS}
    baselines = [name for name in schemes.names if name != TARGET_SCHEME]
    voters, k_voters = np.unique(votes.k_users, return_inverse=True)
    boot = stats.TwoWayBootstrap(0, BOOTSTRAP_SEED, {}, {}) if not inference else stats.two_way_bootstrap(
        votes.k_items, k_voters, votes.k_labels, n, len(voters), {**masks, "all": np.ones(n, dtype=bool)},
        raters=expected, threshold=settings.threshold, tie_policy=settings.tie_policy, target=TARGET_SCHEME,
        baselines=tuple(baselines), resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED, confidence=settings.confidence,
        scores=metric_values, auc_targets={target: classes for target, _, classes in AUC_TARGETS},
    )
    crossed = _crossed_intervals(votes.k_items, k_voters, votes.k_labels, n, {**masks, "all": np.ones(n, dtype=bool)},
                                 baselines, settings, metric_values, votes.image_schemes) if inference else None
    return Inference(metric_values, boot, crossed)


def scheme_rows(votes: Votes, schemes: Schemes, ds: DawidSkeneLabels, inferred: Inference, settings: ReportSettings,
                expected: int) -> tuple[list[SchemeRow], SchemeRow]:
    """A row per scheme, and the `all` row over every labelled image."""
    table, result, boot = votes.table, votes.result, inferred.boot
    empty_boot = stats.GroupBootstrap((None,) * stats.N_LABELS, None, None, None)
    rows = []
    for name, mask in schemes.masks.items():
        n_pool = sum(1 for _, _, s in votes.sample_items if s == name)
        rows.append(
            _scheme_row(
                name, table[mask], _subset(result, mask), (ds.share[mask], ds.tied[mask], *ds.fits[name]),
                n_pool - int(mask.sum()),
                schemes.dr.get(name), settings, expected, boot.groups.get(name, empty_boot),
            )
        )
    overall = _scheme_row("all", table, result, (ds.share, ds.tied, None, None), len(votes.sample_items) - votes.n,
                          None, settings, expected, boot.groups.get("all", empty_boot))
    return rows, overall


def sensitivity_and_verdict(gathered: Gathered, votes: Votes, schemes: Schemes, excluded: Exclusions,
                            settings: ReportSettings, inference: bool,
                            ) -> tuple[list[SensitivityRow], hypothesis.Verdict | None]:
    """Every tie policy x treatment of "inconclusive" (and the rule without the exclusions made by hand), the
    primary analysis first; and the one confirmatory claim, decided on the primary rule's figures."""
    cast, image_schemes, scheme_names = votes.cast, votes.image_schemes, schemes.names
    # The votes with L4 as an abstention: the other treatment of "inconclusive".
    abstained = cast.copy()
    abstained[:, LABEL_INDEX[INCONCLUSIVE]] = 0
    sensitivity = _sensitivity({"label": cast, "abstain": abstained}, image_schemes, scheme_names, settings,
                               inference)
    if excluded.manual_ids:
        sensitivity.insert(1, _without_manual_exclusions(gathered.raw, gathered.item_meta, excluded.rule_ids,
                                                         scheme_names, settings, inference))
    primary = sensitivity[0]
    # The permutation test only with inference.
    verdict = None
    if inference or settings.endpoint == "consensus_l1":
        verdict = hypothesis.decide(settings, {name: (c[2], c[1]) for name, c in primary.schemes.items()},
                                    _l1_shares(abstained if settings.abstain_inconclusive else cast, image_schemes,
                                               scheme_names))
    return sensitivity, verdict


def annotator_rows(gathered: Gathered, votes: Votes, excluded: Exclusions, settings: ReportSettings,
                   names: dict[int, str], floor: int) -> list[AnnotatorRow]:
    """Annotators: agreement with the consensus of the images they labelled, with and without their own vote."""
    raw, item_meta, user_ids, index_of = gathered.raw, gathered.item_meta, votes.user_ids, votes.index_of
    times: dict[int, list[int]] = {uid: [] for uid in user_ids}
    counts = dict.fromkeys(user_ids, 0)
    fast, timed = dict.fromkeys(user_ids, 0), dict.fromkeys(user_ids, 0)
    for _, user_id, _, ms, _ in raw:
        timed[user_id] += ms is not None
        fast[user_id] += collection.is_fast(ms, floor)
    agree = dict.fromkeys(user_ids, 0)
    on_consensus = dict.fromkeys(user_ids, 0)
    scored = []  # (user, image index, label index, counted in the table)
    for item_id, user_id, value, ms, _ in raw:
        if item_meta[item_id][1] == ATTENTION_SCHEME:
            continue
        counts[user_id] += 1
        if ms is not None:
            times[user_id].append(ms)
        if item_id not in index_of or (settings.abstain_inconclusive and value == INCONCLUSIVE):
            continue  # nothing to agree with: only excluded votes on it, or the vote is an abstention
        i = index_of[item_id]
        scored.append((user_id, i, LABEL_INDEX[value], user_id not in excluded.excluded_ids))
        c = int(votes.result.labels[i])
        if c != stats.NO_CONSENSUS:
            on_consensus[user_id] += 1
            agree[user_id] += LABEL_INDEX[value] == c
    loo_agree = dict.fromkeys(user_ids, 0)
    loo_on = dict.fromkeys(user_ids, 0)
    if scored:
        s_users, s_items, s_labels, s_counted = (np.array(col) for col in zip(*scored, strict=True))
        hit, has = stats.leave_one_out_agreement(votes.table, s_items, s_labels, s_counted, settings.threshold,
                                                 settings.tie_policy)
        for uid, h, ok in zip(s_users.tolist(), has.tolist(), hit.tolist(), strict=True):
            loo_on[uid] += h
            loo_agree[uid] += ok
    annotators = [
        AnnotatorRow(
            pseudonym=names[uid],
            n_labels=counts[uid],
            median_time_ms=float(statistics.median(times[uid])) if times[uid] else None,
            n_agree=agree[uid],
            n_on_consensus=on_consensus[uid],
            n_agree_others=loo_agree[uid],
            n_on_others_consensus=loo_on[uid],
            attention_seen=excluded.seen.get(uid, 0),
            attention_failed=excluded.failed.get(uid, 0),
            excluded=uid in excluded.excluded_ids,
            fast_labels=fast[uid],
            n_timed=timed[uid],
        )
        for uid in user_ids
    ]
    annotators.sort(key=lambda a: a.pseudonym)
    return annotators


def image_rows(gathered: Gathered, votes: Votes, ds: DawidSkeneLabels) -> list[ImageRow]:
    table, result, sample_metrics = votes.table, votes.result, gathered.sample_metrics

    def label_value(k: int) -> str:
        return LABELS[k] if k != stats.NO_CONSENSUS else ""

    return [
        ImageRow(
            public_id=pid,
            scheme=scheme,
            votes=tuple(int(v) for v in table[i]),
            consensus=label_value(int(result.labels[i])),
            several=bool(result.several[i]),
            tied_top=bool(result.tied_top[i]),
            ds_label="tie" if ds.tied[i] else label_value(int(ds.labels[i])),
            ds_probability=float(ds.posteriors[i].max()) if ds.labels[i] != stats.NO_CONSENSUS else None,
            dr_amortised=sample_metrics[pk].get("dr_amortised"),
            dr_optimised=sample_metrics[pk].get("dr_optimised"),
            metrics=sample_metrics[pk],
        )
        for i, (pk, pid, scheme) in enumerate(votes.image_items)
    ]


def metric_figures(rows: list[SchemeRow], overall: SchemeRow, votes: Votes, schemes: Schemes,
                   inferred: Inference) -> list[MetricAUC]:
    """Each row's metric means and intervals (written into the rows), and each metric's AUC against the consensus."""
    metric_values, crossed = inferred.metric_values, inferred.crossed
    for row in [*rows, overall]:  # `all`: over every labelled image
        mask = np.ones(votes.n, dtype=bool) if row is overall else schemes.masks[row.scheme]
        for name, _ in METRICS:
            values = metric_values[name][mask]
            values = values[np.isfinite(values)]
            row.metric_means[name] = (float(values.mean()) if len(values) else None, len(values))
    metric_aucs = _metric_aucs(votes.result.labels, metric_values, crossed, inferred.boot.aucs)
    for row in [*rows, overall]:
        if crossed is not None:
            row.intervals, row.no_consensus_interval = crossed.fractions[row.scheme], crossed.no_consensus[row.scheme]
    return metric_aucs


def gallery_rows(votes: Votes, schemes: Schemes) -> list[GalleryRow]:
    return [_gallery_row(name, votes.table[mask], votes.result.labels[mask],
                         [votes.image_items[i][1] for i in np.flatnonzero(mask)])
            for name, mask in schemes.masks.items() if mask.any()]


def label_rows(campaign: Campaign, gathered: Gathered, votes: Votes, excluded: Exclusions,
               names: dict[int, str]) -> tuple[list[LabelRow], list[collection.PositionBand]]:
    """Every label, long format (excluded annotators' flagged), and the L1 rate by position in the sequence."""
    item_meta = gathered.item_meta
    details = collection.label_details(campaign)
    long = [
        LabelRow(
            public_id=item_meta[item_id][0],
            scheme=item_meta[item_id][1],
            pseudonym=names[user_id],
            label=value,
            time_spent_ms=ms,
            created_at=created,
            excluded=user_id in excluded.excluded_ids,
            client_time_ms=details.get((item_id, user_id), (None,) * 3)[0],
            server_time_ms=details.get((item_id, user_id), (None,) * 3)[1],
            position=details.get((item_id, user_id), (None,) * 3)[2],
        )
        for item_id, user_id, value, ms, created in gathered.raw
    ]
    # Order effects: the L1 rate by position, over the labels that count (kept annotators, generated images).
    bands = collection.position_bands([(details.get((i, u), (None,) * 3)[2], v) for i, u, v in votes.counted])
    return long, bands

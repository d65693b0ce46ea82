"""A campaign's report: gather its labels from the database, run the statistics, return plain data.

Attention-check items (training images, expected "not novel or creative") never enter the consensus;
they decide only which annotators are excluded. Excluded annotators' labels are left out of every
figure except their own row in the annotator table and the long-format CSV (which flags them).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from django.utils.crypto import salted_hmac

from annotation.models import Campaign, Label, LabelValue, Participant
from generation.models import GenerationJob, PoolItem

from . import stats
from .models import ReportSettings

# The paper's order of the labels (L1..L4) and of the schemes (three baselines, then the creative decoder).
LABELS: tuple[str, ...] = tuple(v.value for v in LabelValue)
LABEL_INDEX = {value: i for i, value in enumerate(LABELS)}
LABEL_NAMES: tuple[str, ...] = tuple(v.label for v in LabelValue)
SCHEME_ORDER = ("regular", "noisy", "random_flip", "low_active")
TARGET_SCHEME = "low_active"
ATTENTION_EXPECTED = LabelValue.NOT_NOVEL.value
ATTENTION_SCHEME = "attention_check"
# Bootstrap of the agreement figures over images: fixed seed, so a report reads the same every time.
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
INCONCLUSIVE = LabelValue.INCONCLUSIVE.value


def pseudonym(campaign_id: int, user_id: int) -> str:
    """A stable per-campaign name for an annotator that says nothing about the account."""
    digest = salted_hmac("evaluation.pseudonym", f"{campaign_id}:{user_id}").hexdigest()
    return f"A-{digest[:10]}"


def scheme_dr(job: GenerationJob) -> dict[str, dict]:
    """Mean D_r per scheme over all the job's samples (not only the pooled ones)."""
    try:
        from generation.services import job_scheme_dr
    except ImportError:
        summary = job.summary or {}
    else:
        summary = job_scheme_dr(job) or {}
    # Only per-scheme entries: a summary may carry other keys (timings, totals) beside them.
    return {k: v for k, v in summary.items() if isinstance(v, dict) and "dr_amortised_mean" in v}


def ordered_schemes(names) -> list[str]:
    names = set(names)
    return [s for s in SCHEME_ORDER if s in names] + sorted(names - set(SCHEME_ORDER))


@dataclass
class SchemeRow:
    scheme: str
    fractions: stats.LabelFractions
    n_unlabelled: int
    dr_n: int | None
    dr_amortised: float | None
    dr_optimised: float | None
    fleiss_kappa: float | None
    krippendorff_alpha: float | None
    agreement_intervals: stats.AgreementIntervals
    ds_counts: tuple[int, ...]
    ds_fractions: tuple[float | None, ...]


@dataclass
class AnnotatorRow:
    pseudonym: str
    n_labels: int  # labels on generated images
    median_time_ms: float | None
    n_agree: int  # labels equal to the image's consensus
    n_on_consensus: int  # labels on images that have a consensus
    n_agree_others: int  # labels equal to the consensus of the other annotators' votes
    n_on_others_consensus: int  # labels on images where the other votes have a consensus
    attention_seen: int
    attention_failed: int
    excluded: bool

    @property
    def agreement(self) -> float | None:
        return self.n_agree / self.n_on_consensus if self.n_on_consensus else None

    @property
    def agreement_others(self) -> float | None:
        return self.n_agree_others / self.n_on_others_consensus if self.n_on_others_consensus else None

    @property
    def attention_fail_rate(self) -> float | None:
        return self.attention_failed / self.attention_seen if self.attention_seen else None


@dataclass
class ImageRow:
    public_id: str
    scheme: str
    votes: tuple[int, ...]
    consensus: str  # a label value, or "" for no consensus
    tie: bool
    ds_label: str
    ds_probability: float | None
    dr_amortised: float | None
    dr_optimised: float | None


@dataclass
class LabelRow:
    public_id: str
    scheme: str
    pseudonym: str
    label: str
    time_spent_ms: int | None
    created_at: datetime
    excluded: bool


@dataclass
class Report:
    campaign: Campaign
    settings: ReportSettings
    annotators_per_image: int
    model_name: str
    model_id: int
    dataset: str
    job_id: int
    job_seed: int
    pool_name: str
    pool_seed: int
    schemes: list[SchemeRow]
    overall: SchemeRow
    chance_reach: float
    chance_labels: tuple[float, ...]
    chance_none: float
    tests: list[stats.ProportionTest]
    ds_iterations: int
    ds_converged: bool
    annotators: list[AnnotatorRow]
    excluded: list[str]
    images: list[ImageRow] = field(repr=False)
    labels: list[LabelRow] = field(repr=False)

    @property
    def agreement_rows(self) -> list[SchemeRow]:
        return [*self.schemes, self.overall]

    @property
    def threshold(self) -> int:
        return self.settings.threshold

    def parameters(self) -> list[tuple[str, str]]:
        """Everything a reader needs to reproduce the numbers, as (name, value) pairs."""
        s = self.settings
        return [
            ("campaign", f"{self.campaign.name} (id {self.campaign.pk})"),
            ("model", f"{self.model_name} (id {self.model_id}, {self.dataset})"),
            ("generation job", f"{self.job_id} (seed {self.job_seed})"),
            ("pool", f"{self.pool_name} (seed {self.pool_seed})"),
            ("annotators per image", str(self.annotators_per_image)),
            ("consensus rule", f"a label with at least {s.threshold} of the image's votes"),
            ("tie policy", f"{s.tie_policy}: {s.tie_policy_text}"),
            ("inconclusive", f"{s.inconclusive}: {s.get_inconclusive_display()}; images without a consensus are counted apart"),
            ("fractions", "normalised over the images that have a consensus"),
            ("intervals", f"Wilson score, {s.confidence:.0%}"),
            ("test", "two-sided Fisher's exact test on L1 vs the other consensus labels, Holm-adjusted"),
            (
                "agreement",
                "Fleiss' kappa over images with all votes; nominal Krippendorff's alpha over all images; "
                f"{s.confidence:.0%} percentile bootstrap intervals over images "
                f"({BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED})",
            ),
            (
                "exclusion rule",
                f"annotators who answered at least {s.min_attention_checks} attention checks and failed more than "
                f"{s.max_attention_fail_rate:.0%} of them (expected label: not novel or creative), and panel "
                "participants the researcher excluded",
            ),
            ("excluded annotators", ", ".join(self.excluded) or "none"),
            (
                "sensitivity check",
                f"Dawid-Skene EM, {self.ds_iterations} iterations"
                + ("" if self.ds_converged else " (stopped before converging: read it with care)"),
            ),
        ]


def _scheme_row(
    name: str,
    table: np.ndarray,
    result: stats.Consensus,
    ds_labels: np.ndarray,
    n_unlabelled: int,
    dr: dict | None,
    settings: ReportSettings,
    expected: int,
) -> SchemeRow:
    ds_counts = tuple(int((ds_labels == k).sum()) for k in range(stats.N_LABELS))
    n_ds = sum(ds_counts)
    return SchemeRow(
        scheme=name,
        fractions=stats.label_fractions(result, expected, settings.confidence),
        n_unlabelled=n_unlabelled,
        dr_n=(dr or {}).get("n"),
        dr_amortised=(dr or {}).get("dr_amortised_mean"),
        dr_optimised=(dr or {}).get("dr_optimised_mean"),
        fleiss_kappa=stats.fleiss_kappa(table, raters=expected),
        krippendorff_alpha=stats.krippendorff_alpha(table),
        agreement_intervals=stats.bootstrap_agreement(
            table, expected, resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED, confidence=settings.confidence
        ),
        ds_counts=ds_counts,
        ds_fractions=tuple((c / n_ds) if n_ds else None for c in ds_counts),
    )


def _subset(result: stats.Consensus, mask: np.ndarray) -> stats.Consensus:
    return stats.Consensus(labels=result.labels[mask], votes=result.votes[mask], tie=result.tie[mask])


def build_report(campaign: Campaign, settings: ReportSettings | None = None) -> Report:
    settings = settings or ReportSettings.for_campaign(campaign)
    pool = campaign.pool
    job = pool.job
    model = job.trained_model
    expected = campaign.annotators_per_image

    pool_rows = (
        PoolItem.objects.filter(pool=pool)
        .order_by("position")
        .values_list("id", "public_id", "sample__scheme", "sample__dr_amortised", "sample__dr_optimised")
    )
    items = [(pk, public_id, scheme) for pk, public_id, scheme, _, _ in pool_rows]
    sample_dr = {pk: (amortised, optimised) for pk, _, _, amortised, optimised in pool_rows}
    item_meta = {pk: (public_id, scheme or ATTENTION_SCHEME) for pk, public_id, scheme in items}
    raw = list(
        Label.objects.filter(campaign=campaign, item__pool=pool)
        .order_by("created_at", "id")
        .values_list("item_id", "annotator_id", "value", "time_spent_ms", "created_at")
    )

    # Attention checks decide the exclusions.
    seen: dict[int, int] = {}
    failed: dict[int, int] = {}
    for item_id, user_id, value, _, _ in raw:
        if item_meta[item_id][1] == ATTENTION_SCHEME:
            seen[user_id] = seen.get(user_id, 0) + 1
            failed[user_id] = failed.get(user_id, 0) + (value != ATTENTION_EXPECTED)
    excluded_ids = {
        uid
        for uid, n in seen.items()
        if n >= settings.min_attention_checks and failed[uid] / n > settings.max_attention_fail_rate
    }
    # Panel participants the researcher excluded by hand (e.g. rejected on the panel).
    excluded_ids |= set(Participant.objects.filter(campaign=campaign, excluded=True, user__isnull=False)
                        .values_list("user_id", flat=True))

    # Generated images that received at least one kept label, in pool order.
    sample_items = [(pk, pid, scheme) for pk, pid, scheme in items if scheme]
    counted = [
        (item_id, user_id, value)
        for item_id, user_id, value, _, _ in raw
        if user_id not in excluded_ids and item_meta[item_id][1] != ATTENTION_SCHEME
    ]
    labelled = {item_id for item_id, _, _ in counted}
    # An abstention still makes the image "labelled" (it has no consensus rather than no votes).
    kept = [
        (item_id, user_id, LABEL_INDEX[value])
        for item_id, user_id, value in counted
        if not (settings.abstain_inconclusive and value == INCONCLUSIVE)
    ]
    image_items = [row for row in sample_items if row[0] in labelled]
    index_of = {pk: i for i, (pk, _, _) in enumerate(image_items)}
    user_ids = sorted({uid for _, uid, _, _, _ in raw})
    user_index = {uid: i for i, uid in enumerate(user_ids)}

    n = len(image_items)
    k_items = np.array([index_of[i] for i, _, _ in kept], dtype=np.int64)
    k_users = np.array([user_index[u] for _, u, _ in kept], dtype=np.int64)
    k_labels = np.array([lab for _, _, lab in kept], dtype=np.int64)
    table = stats.vote_table(k_items, k_labels, n)
    result = stats.consensus(table, settings.threshold, settings.tie_policy)
    ds = stats.dawid_skene(k_items, k_users, k_labels, n, len(user_ids))
    image_schemes = np.array([scheme for _, _, scheme in image_items], dtype=object)

    dr = scheme_dr(job)
    scheme_names = ordered_schemes({s for _, _, s in sample_items} | set(dr))
    rows = []
    for name in scheme_names:
        mask = image_schemes == name if n else np.zeros(0, dtype=bool)
        n_pool = sum(1 for _, _, s in sample_items if s == name)
        rows.append(
            _scheme_row(
                name, table[mask], _subset(result, mask), ds.labels[mask], n_pool - int(mask.sum()), dr.get(name), settings, expected
            )
        )
    overall = _scheme_row("all", table, result, ds.labels, len(sample_items) - n, None, settings, expected)

    per_label, none = stats.chance_consensus(expected, settings.threshold, settings.tie_policy)
    baselines = [r.scheme for r in rows if r.scheme != TARGET_SCHEME]
    tests = (
        stats.fisher_l1_tests(
            TARGET_SCHEME, {r.scheme: (r.fractions.counts[0], r.fractions.n_consensus) for r in rows}, baselines
        )
        if any(r.scheme == TARGET_SCHEME for r in rows)
        else []
    )

    # Annotators: agreement with the consensus of the images they labelled, with and without their own vote.
    names = {uid: pseudonym(campaign.pk, uid) for uid in user_ids}
    times: dict[int, list[int]] = {uid: [] for uid in user_ids}
    counts = dict.fromkeys(user_ids, 0)
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
        scored.append((user_id, i, LABEL_INDEX[value], user_id not in excluded_ids))
        c = int(result.labels[i])
        if c != stats.NO_CONSENSUS:
            on_consensus[user_id] += 1
            agree[user_id] += LABEL_INDEX[value] == c
    loo_agree = dict.fromkeys(user_ids, 0)
    loo_on = dict.fromkeys(user_ids, 0)
    if scored:
        s_users, s_items, s_labels, s_counted = (np.array(col) for col in zip(*scored, strict=True))
        hit, has = stats.leave_one_out_agreement(table, s_items, s_labels, s_counted, settings.threshold, settings.tie_policy)
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
            attention_seen=seen.get(uid, 0),
            attention_failed=failed.get(uid, 0),
            excluded=uid in excluded_ids,
        )
        for uid in user_ids
    ]
    annotators.sort(key=lambda a: a.pseudonym)

    def label_value(k: int) -> str:
        return LABELS[k] if k != stats.NO_CONSENSUS else ""

    images = [
        ImageRow(
            public_id=pid,
            scheme=scheme,
            votes=tuple(int(v) for v in table[i]),
            consensus=label_value(int(result.labels[i])),
            tie=bool(result.tie[i]),
            ds_label=label_value(int(ds.labels[i])),
            ds_probability=float(ds.posteriors[i].max()),
            dr_amortised=sample_dr[pk][0],
            dr_optimised=sample_dr[pk][1],
        )
        for i, (pk, pid, scheme) in enumerate(image_items)
    ]
    long = [
        LabelRow(
            public_id=item_meta[item_id][0],
            scheme=item_meta[item_id][1],
            pseudonym=names[user_id],
            label=value,
            time_spent_ms=ms,
            created_at=created,
            excluded=user_id in excluded_ids,
        )
        for item_id, user_id, value, ms, created in raw
    ]

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
        chance_reach=stats.chance_reach_probability(expected, settings.threshold),
        chance_labels=per_label,
        chance_none=none,
        tests=tests,
        ds_iterations=ds.iterations,
        ds_converged=ds.converged,
        annotators=annotators,
        excluded=sorted(names[uid] for uid in excluded_ids),
        images=images,
        labels=long,
    )

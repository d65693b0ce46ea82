"""What every part of a report shares: the labels' and schemes' order, the metrics, the seeds, and the names given to
annotators."""

from __future__ import annotations

from django.utils.crypto import salted_hmac

from annotation.models import LabelValue
from generation.models import GenerationJob

# The paper's order of the labels (L1..L4) and of the schemes (three baselines, then the creative decoder).
LABELS: tuple[str, ...] = tuple(v.value for v in LabelValue)
LABEL_INDEX = {value: i for i, value in enumerate(LABELS)}
LABEL_NAMES: tuple[str, ...] = tuple(v.label for v in LabelValue)
SCHEME_ORDER = ("regular", "noisy", "random_flip", "low_active")
TARGET_SCHEME = "low_active"
ATTENTION_EXPECTED = LabelValue.NOT_NOVEL.value
ATTENTION_SCHEME = "attention_check"
# Two-way bootstrap (annotators and images) of the fractions, differences, agreement figures and surrogate-metric
# AUCs, and the permutation test on the share of L1 votes: fixed seeds, so a report reads the same every time.
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0
PERMUTATION_SEED = 0
INCONCLUSIVE = LabelValue.INCONCLUSIVE.value
# Surrogate metrics stored with each sample (field name, name shown), and the consensus classes they are read
# against: "creative" is consensus L1, "novel" is L1 or L2; each against every other image with a consensus.
METRICS: tuple[tuple[str, str], ...] = (
    ("dr_amortised", "D_r amortised"), ("dr_optimised", "D_r optimised"),
    ("entropy", "classifier entropy"), ("top_probability", "classifier top probability"),
    ("out_of_class_max", "out-of-class max"), ("out_of_class_count", "out-of-class count"),
    ("nn_pixels", "nearest training image, pixels"), ("nn_features", "nearest training image, features"),
)
AUC_TARGETS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("creative", "creative (L1) against the rest", (0,)),
    ("novel", "novel (L1 or L2) against the rest", (0, 1)),
)
# The gallery: per scheme, the images whose consensus is L1 (and L2) with the largest share of those votes.
GALLERY_SIZE = 8


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


def attention_kind(pool) -> str:
    """Which images the pool's attention checks are, in words (for the parameters)."""
    return f"{pool.get_attention_kind_display()}, expected label \u201cnot novel or creative\u201d"

"""The campaign's one confirmatory claim, and the registration that protects it.

The primary hypothesis (target scheme, comparison schemes, endpoint, direction, family, alpha) is part of the report
settings, so it is frozen with the rule. Its family is the *registered* list of comparisons: it never grows or
shrinks with the pool or with a sensitivity rule. Two ways of combining the comparisons:
- "all" (the target beats every comparison): an intersection-union test; the claim holds when every comparison is
  significant at alpha in the stated direction. No multiplicity correction is needed (Berger 1982).
- "any" (the target beats at least one): Holm's step-down over the registered comparisons (a comparison that cannot
  be tested counts as p = 1, so the family size stays fixed); the claim holds when one of them is significant.
The tests are the report's own: Fisher's exact test on the consensus images, or the permutation test on each image's
share of L1 votes. Both are two-sided; the direction must also match, so a one-directional claim is tested at
alpha / 2 per side (the conservative convention).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
from django.utils import timezone

from . import stats
from .models import Direction, Endpoint, Family, Registration, ReportSettings

PERMUTATION_SEED = 0
TESTS = {Endpoint.CONSENSUS_L1: "Fisher's exact test, two-sided", Endpoint.VOTE_SHARE: "permutation test, two-sided"}
ENDPOINTS = {Endpoint.CONSENSUS_L1: "the L1 share among the images with a consensus, by Fisher's exact test",
             Endpoint.VOTE_SHARE: "each image's share of L1 votes over every labelled image, by a permutation test"}


@dataclass(frozen=True)
class Comparison:
    baseline: str
    target_value: float | None  # L1 share among consensus images, or mean per-image share of L1 votes
    baseline_value: float | None
    target_n: str  # what the value is over, in words ("12 / 40", "40 images")
    baseline_n: str
    p_value: float | None
    p_adjusted: float | None  # Holm over the registered comparisons ("any"); the p-value itself ("all")
    in_direction: bool
    passes: bool

    @property
    def difference(self) -> float | None:
        if self.target_value is None or self.baseline_value is None:
            return None
        return self.target_value - self.baseline_value


@dataclass(frozen=True)
class Verdict:
    statement: str
    supported: bool | None  # None: nothing to decide on yet (no image has a vote)
    comparisons: list[Comparison]
    why: str

    @property
    def word(self) -> str:
        return {True: "Supported", False: "Not supported", None: "Not decided yet"}[self.supported]


def statement(s: ReportSettings) -> str:
    """The hypothesis in one sentence, as registered."""
    more = "more" if s.direction == Direction.GREATER else "less"
    which = "every one" if s.family == Family.ALL else "at least one"
    combined = ("intersection-union: each comparison at alpha, no correction" if s.family == Family.ALL
                else "Holm over the listed comparisons")
    return (f"{s.target_scheme} yields {more} creative (L1) images than {which} of {', '.join(s.comparisons)}. "
            f"Endpoint: {ENDPOINTS[Endpoint(s.endpoint)]}, two-sided, at alpha = {s.alpha:g} ({combined}); the "
            "difference must also point the stated way.")


def decide(s: ReportSettings, per_scheme: dict[str, tuple[int, int]], shares: dict[str, np.ndarray], *,
           resamples: int = stats.PERMUTATIONS) -> Verdict:
    """The verdict of the primary hypothesis from the primary rule's figures.

    per_scheme: (L1 count, consensus images) per scheme; shares: each image's share of L1 votes per scheme.
    Schemes missing from them have no data: their comparison cannot pass.
    """
    target, comparisons = s.target_scheme, s.comparisons
    if s.endpoint == Endpoint.CONSENSUS_L1:
        rows = stats.fisher_l1_tests(target, per_scheme, comparisons)
        values = [(t.count / t.nobs if t.nobs else None, t.baseline_count / t.baseline_nobs if t.baseline_nobs else None,
                   f"{t.count} / {t.nobs}", f"{t.baseline_count} / {t.baseline_nobs}", t.p_value) for t in rows]
    else:
        rows = stats.l1_share_tests(shares, target, comparisons, resamples=resamples, seed=PERMUTATION_SEED)
        values = [(t.mean, t.baseline_mean, f"{t.n} images", f"{t.baseline_n} images", t.p_value) for t in rows]
    raw = [p for *_, p in values]
    # The family is the registered list: an untestable comparison stays in it with p = 1.
    adjusted = stats.holm([1.0 if p is None else p for p in raw]) if s.family == Family.ANY else raw
    out = []
    for name, (tv, bv, tn, bn, p), p_adj in zip(comparisons, values, adjusted, strict=True):
        diff = None if tv is None or bv is None else tv - bv
        in_direction = diff is not None and (diff > 0 if s.direction == Direction.GREATER else diff < 0)
        passes = p is not None and p_adj is not None and p_adj < s.alpha and in_direction
        out.append(Comparison(name, tv, bv, tn, bn, p, None if p is None else p_adj, in_direction, passes))
    has_votes = any(len(v) for v in shares.values())
    if not has_votes:
        return Verdict(statement(s), None, out, "No image has a vote yet.")
    passing = [c.baseline for c in out if c.passes]
    failing = [c.baseline for c in out if not c.passes]
    if s.family == Family.ALL:
        supported = not failing
        why = ("Every comparison is significant at alpha in the stated direction." if supported else
               f"Not significant at alpha in the stated direction against: {', '.join(failing)}.")
    else:
        supported = bool(passing)
        why = (f"Significant after Holm in the stated direction against: {', '.join(passing)}." if supported else
               "No comparison is significant after Holm in the stated direction.")
    return Verdict(statement(s), supported, out, why)


# -- The registration snapshot -------------------------------------------------------------------------------------

def canonical_json(values: dict) -> str:
    """The one text of a snapshot that its hash is of: sorted keys, no spaces, UTF-8."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _pool_digest(pool) -> str:
    """SHA-256 over the pool's images in order (public id and scheme): which images, and which scheme made each."""
    from generation.models import PoolItem

    rows = PoolItem.objects.filter(pool=pool).order_by("position").values_list("public_id", "sample__scheme")
    return hashlib.sha256("\n".join(f"{pid}\t{scheme or 'attention_check'}" for pid, scheme in rows).encode()).hexdigest()


def snapshot_of(s: ReportSettings) -> dict:
    """Every registered value of a campaign, from the live rows (the registration time apart)."""
    campaign = s.campaign
    pool = campaign.pool
    job = pool.job
    model = job.trained_model
    return {
        "format": "creative-decoder pre-registration 1",
        "registered_at": s.registered_at.isoformat() if s.registered_at else None,
        "campaign": {"id": campaign.pk, "name": campaign.name, "annotators_per_image": campaign.annotators_per_image,
                     "priming_count": campaign.priming_count,
                     "instructions_sha256": hashlib.sha256(campaign.instructions.encode()).hexdigest()},
        "hypothesis": {"target_scheme": s.target_scheme, "comparison_schemes": s.comparisons, "endpoint": s.endpoint,
                       "test": TESTS[Endpoint(s.endpoint)], "direction": s.direction, "family": s.family,
                       "alpha": s.alpha, "statement": statement(s)},
        "rule": {"threshold": s.threshold, "tie_policy": s.tie_policy, "inconclusive": s.inconclusive,
                 "confidence": s.confidence},
        "exclusion_rule": {"max_attention_fail_rate": s.max_attention_fail_rate,
                           "min_attention_checks": s.min_attention_checks,
                           "manual": "panel participants excluded by hand, each with who, when and why; the report "
                                     "shows the analysis without them as a sensitivity row"},
        "pool": {"id": pool.pk, "name": pool.name, "seed": pool.seed, "per_scheme": pool.per_scheme,
                 "attention_kind": pool.attention_kind, "images_sha256": _pool_digest(pool)},
        "generation_job": {"id": job.pk, "seed": job.seed, "samples_per_scheme": job.samples_per_scheme,
                           "schemes": job.schemes},
        "model": {"id": model.pk, "name": model.name, "dataset": model.dataset, "seed": model.seed,
                  "epochs": model.epochs, "checkpoint": model.checkpoint.name or None},
    }


def _flatten(values, prefix: str = "") -> dict[str, object]:
    if isinstance(values, dict):
        out: dict[str, object] = {}
        for key, value in values.items():
            out.update(_flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): values}


def mismatches(registration: Registration, s: ReportSettings) -> list[str]:
    """Every registered value that differs from the live one, in words ([] when they all agree)."""
    stored = _flatten(registration.values)
    live = _flatten(json.loads(canonical_json(snapshot_of(s))))
    out = [f"{key}: registered {stored.get(key)!r}, now {live.get(key)!r}"
           for key in sorted(set(stored) | set(live)) if key != "registered_at" and stored.get(key) != live.get(key)]
    if not registration.intact:
        out.insert(0, "the stored snapshot no longer has its stored SHA-256")
    return out


def document(s: ReportSettings, registration: Registration | None) -> tuple[str, str]:
    """(Markdown, JSON) of the pre-registration: the registered snapshot, or a draft of the live values."""
    if registration is not None:
        text, digest, values = registration.snapshot, registration.sha256, registration.values
        when = f"registered {registration.registered_at:%Y-%m-%d %H:%M:%S} UTC"
    else:
        values = snapshot_of(s)
        text = canonical_json(values)
        digest = hashlib.sha256(text.encode()).hexdigest()
        when = f"DRAFT, not registered: the campaign is not open ({timezone.now():%Y-%m-%d %H:%M} UTC)"
    h, r, x = values["hypothesis"], values["rule"], values["exclusion_rule"]
    c, p, j, m = values["campaign"], values["pool"], values["generation_job"], values["model"]
    lines = [
        f"# Pre-registration: {c['name']} (campaign {c['id']})", "",
        f"- Status: {when}",
        f"- SHA-256 of the JSON snapshot below (and of the downloadable .json file): `{digest}`", "",
        "## Primary hypothesis (confirmatory)", "", h["statement"], "",
        f"- Target scheme: {h['target_scheme']}",
        f"- Comparison schemes (the whole family): {', '.join(h['comparison_schemes'])}",
        f"- Endpoint: {Endpoint(h['endpoint']).label}",
        f"- Test: {h['test']}; direction: {h['direction']}; alpha = {h['alpha']:g}",
        f"- Family: {Family(h['family']).label}", "",
        "Every other figure of the report is secondary or exploratory.", "",
        "## Consensus rule", "",
        f"- A label is an image's consensus with at least {r['threshold']} of its {c['annotators_per_image']} votes",
        f"- Tie policy: {r['tie_policy']}; inconclusive: {r['inconclusive']}; interval level: {r['confidence']:g}", "",
        "## Exclusions", "",
        f"- Rule: annotators who answered at least {x['min_attention_checks']} attention checks and failed more than "
        f"{x['max_attention_fail_rate']:.0%} of them",
        f"- By hand: {x['manual']}", "",
        "## Provenance", "",
        f"- Pool {p['id']} \u201c{p['name']}\u201d, seed {p['seed']}, images per scheme: {p['per_scheme']}, attention "
        f"checks: {p['attention_kind']}; images SHA-256 `{p['images_sha256']}`",
        f"- Generation job {j['id']}, seed {j['seed']}, {j['samples_per_scheme']} samples per scheme",
        f"- Model {m['id']} \u201c{m['name']}\u201d ({m['dataset']}, seed {m['seed']}, {m['epochs']} epochs)",
        f"- Annotators per image {c['annotators_per_image']}, priming images {c['priming_count']}, instructions "
        f"SHA-256 `{c['instructions_sha256']}`", "",
        "## Snapshot (canonical JSON)", "", "```json", text, "```", "",
    ]
    return "\n".join(lines), text

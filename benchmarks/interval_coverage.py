"""Coverage of the report's intervals in simulated campaigns with a known truth.

Each campaign: 4 schemes with the same number of images (40-100 each), 15-30 annotators, 9 distinct annotators per
image. An image's votes are drawn from softmax(scheme logits + image logits + annotator logits): images differ
(a "creativity" latent and noise per label), annotators lean (a logit bias per label, sd 0.8, or none). A surrogate
metric follows the image's latent, so it tells creative images apart within a scheme as well as between schemes.
The truth of each figure is its value over a very large campaign whose every vote comes from a fresh annotator of the
same population. A 95% interval should hold the truth in 95% of campaigns; in the null scenario low-active and
random flipping are the same scheme, so the interval of their difference should exclude 0 in 5% of campaigns.

    nice .venv/bin/python benchmarks/interval_coverage.py --replicates 200

Prints, per scenario and method, the coverage of each kind of figure (over its schemes or baselines; the lowest and
highest single figure in brackets) and the null rejection rate. Methods: `crossed` (the report's intervals,
evaluation.intervals), `wilson` (images as independent, fractions only) and, with --bootstrap, the two-way
percentile bootstrap (evaluation.stats.two_way_bootstrap), the only method with intervals for Fleiss' kappa and
Krippendorff's alpha (their truth: each scheme's agreement over the very large campaign).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from evaluation import intervals as iv  # noqa: E402
from evaluation.stats import (  # noqa: E402
    N_LABELS,
    consensus,
    fleiss_kappa,
    krippendorff_alpha,
    two_way_bootstrap,
    vote_table,
    wilson_interval,
)

SCHEMES = ("regular", "noisy", "random_flip", "low_active")
# Scheme logits of L1 creative, L2 novel, L3 not novel or creative, L4 inconclusive.
LOGITS = {
    "regular": (-1.0, -0.5, 1.2, -1.5),
    "noisy": (-0.8, -0.4, 1.0, -1.5),
    "random_flip": (-0.3, 0.0, 0.6, -1.2),
    "low_active": (0.5, 0.3, 0.0, -1.0),
}
LATENT = np.array([1.0, 0.4, -1.0, 0.0])  # how the image's creativity latent moves its label logits
IMAGE_SD = 0.6
SCORE_OFFSET = {"regular": 0.0, "noisy": 0.1, "random_flip": 0.6, "low_active": 1.2}
VOTES = 9
THRESHOLD = 3
POLICY = "plurality_or_none"
TARGETS = {"creative": (0,), "novel": (0, 1)}
LEVEL = 0.95


@dataclass(frozen=True)
class Scenario:
    name: str
    annotator_sd: float
    null: bool  # low-active drawn as random flipping

    def logits(self, scheme: str) -> np.ndarray:
        return np.array(LOGITS["random_flip" if self.null and scheme == "low_active" else scheme])

    def offset(self, scheme: str) -> float:
        return SCORE_OFFSET["random_flip" if self.null and scheme == "low_active" else scheme]


SCENARIOS = (
    Scenario("no annotator bias", 0.0, False),
    Scenario("annotator bias sd 0.8", 0.8, False),
    Scenario("null, annotator bias sd 0.8", 0.8, True),
    Scenario("null, no annotator bias", 0.0, True),
)


def draw_images(rng, scenario: Scenario, per_scheme: int):
    schemes = np.repeat(np.arange(len(SCHEMES)), per_scheme)
    latent = rng.standard_normal(len(schemes))
    base = np.stack([scenario.logits(SCHEMES[s]) for s in schemes])
    logits = base + latent[:, None] * LATENT + IMAGE_SD * rng.standard_normal((len(schemes), N_LABELS))
    offsets = np.array([scenario.offset(SCHEMES[s]) for s in schemes])
    scores = offsets + 0.8 * latent + rng.standard_normal(len(schemes))
    return schemes, logits, scores


def draw_votes(rng, logits: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """One label per row of logits + bias (Gumbel-max: the argmax of logits plus Gumbel noise is softmax-drawn)."""
    return np.argmax(logits + bias - np.log(-np.log(rng.random(logits.shape))), axis=-1)


def campaign(rng, scenario: Scenario):
    n_annotators = int(rng.integers(15, 31))
    per_scheme = int(rng.integers(40, 101))
    schemes, logits, scores = draw_images(rng, scenario, per_scheme)
    n = len(schemes)
    bias = scenario.annotator_sd * rng.standard_normal((n_annotators, N_LABELS))
    who = np.argpartition(rng.random((n, n_annotators)), VOTES - 1, axis=1)[:, :VOTES]  # 9 distinct annotators
    items = np.repeat(np.arange(n), VOTES)
    annotators = who.reshape(-1)
    labels = draw_votes(rng, logits[items], bias[annotators])
    return items, annotators, labels, schemes, scores, n_annotators


def truth(scenario: Scenario, rng, per_scheme: int = 100_000) -> dict[str, float]:
    """Every figure over a huge campaign, each vote from a fresh annotator (the population the estimand is over)."""
    schemes, logits, scores = draw_images(rng, scenario, per_scheme)
    n = len(schemes)
    items = np.repeat(np.arange(n), VOTES)
    bias = scenario.annotator_sd * rng.standard_normal((len(items), N_LABELS))
    labels = draw_votes(rng, logits[items], bias)
    table = vote_table(items, labels, n)
    state = iv.as_state(consensus(table, THRESHOLD, POLICY).labels)
    votes = iv.CrossedVotes(items, np.zeros(len(items), dtype=np.int64), state, np.zeros((0, N_LABELS), dtype=np.int64),
                            np.zeros((0, N_LABELS)))
    out = {name: value for name, (value, _) in figures(votes, schemes, scores, variance=False).items()}
    for s, name in enumerate(SCHEMES):  # the agreement of each scheme's votes (the bootstrap's kappa and alpha)
        out[f"{name} kappa"] = fleiss_kappa(table[schemes == s], raters=VOTES)
        out[f"{name} alpha"] = krippendorff_alpha(table[schemes == s])
    return out


def figures(votes: iv.CrossedVotes, schemes: np.ndarray, scores: np.ndarray, variance: bool = True):
    """name -> (estimate, ratio contribution (images, STATES)): the report's figures as the report defines them."""
    state = votes.state
    out: dict[str, tuple[float | None, np.ndarray | None]] = {}
    ratios: dict[str, iv.Ratio] = {}
    for s, name in enumerate(SCHEMES):
        members = schemes == s
        for k in range(N_LABELS):
            ratios[f"{name} L{k + 1}"] = iv.fraction(members, k)
        ratios[f"{name} none"] = iv.no_consensus(members)
    for key, ratio in ratios.items():
        out[key] = (ratio.value(state), ratio.contribution(state) if variance else None)
    target = ratios["low_active L1"]
    for name in SCHEMES[:-1]:
        base = ratios[f"{name} L1"]
        a, b = target.value(state), base.value(state)
        value = None if a is None or b is None else a - b
        out[f"difference vs {name}"] = (value, target.contribution(state) - base.contribution(state)
                                        if variance else None)
    for target_name, classes in TARGETS.items():
        for kind, strata in (("pooled", np.zeros(len(schemes))), ("within-scheme", schemes)):
            pair = iv.auc_pairs(scores, state, classes, strata)
            out[f"{kind} AUC {target_name}"] = (pair.value, pair.contribution() if variance else None)
    return out


def kind_of(name: str) -> str:
    if name.startswith("difference"):
        return "difference in L1 share"
    if "AUC" in name:
        return name
    scheme, what = name.split(" ")
    return {"none": "no-consensus share", "kappa": "Fleiss' kappa", "alpha": "Krippendorff's alpha"}.get(
        what, f"{what} fraction")


def crossed_intervals(votes: iv.CrossedVotes, schemes, scores) -> dict[str, iv.Interval | None]:
    """The report's intervals (evaluation.intervals.campaign_intervals), by the names used here."""
    groups = {name: schemes == s for s, name in enumerate(SCHEMES)}
    found = iv.campaign_intervals(votes, groups, target="low_active", baselines=SCHEMES[:-1], confidence=LEVEL,
                                  scores={"score": scores}, auc_targets=TARGETS, strata=schemes)
    out: dict[str, iv.Interval | None] = {}
    for name in SCHEMES:
        for k in range(N_LABELS):
            out[f"{name} L{k + 1}"] = found.fractions[name][k]
        out[f"{name} none"] = found.no_consensus[name]
    for name, interval in found.differences.items():
        out[f"difference vs {name}"] = interval
    for target in TARGETS:
        out[f"pooled AUC {target}"] = found.aucs[("score", target)].interval
        out[f"within-scheme AUC {target}"] = found.within_aucs[("score", target)].interval
    return out


def wilson_intervals(votes: iv.CrossedVotes, schemes) -> dict[str, iv.Interval | None]:
    out = {}
    for s, name in enumerate(SCHEMES):
        mine = votes.state[schemes == s]
        n_cons = int((mine != iv.NONE).sum())
        for k in range(N_LABELS):
            out[f"{name} L{k + 1}"] = wilson_interval(int((mine == k).sum()), n_cons, LEVEL)
        out[f"{name} none"] = wilson_interval(int((mine == iv.NONE).sum()), len(mine), LEVEL)
    return out


def bootstrap_intervals(items, annotators, labels, schemes, scores, n_annotators, resamples, seed):
    groups = {name: schemes == s for s, name in enumerate(SCHEMES)}
    boot = two_way_bootstrap(items, annotators, labels, len(schemes), n_annotators, groups, raters=VOTES,
                             threshold=THRESHOLD, tie_policy=POLICY, target="low_active", baselines=SCHEMES[:-1],
                             resamples=resamples, seed=seed, confidence=LEVEL, scores={"score": scores},
                             auc_targets=TARGETS)
    out = {}
    for name, group in boot.groups.items():
        for k in range(N_LABELS):
            out[f"{name} L{k + 1}"] = group.fractions[k]
        out[f"{name} none"] = group.no_consensus
        out[f"{name} kappa"], out[f"{name} alpha"] = group.kappa, group.alpha
    for name, interval in boot.differences.items():
        out[f"difference vs {name}"] = interval
    for target in TARGETS:
        out[f"pooled AUC {target}"] = boot.aucs[("score", target)]
    return out


def run(scenario: Scenario, replicates: int, seed: int, bootstrap: int) -> dict:
    rng = np.random.default_rng(seed)
    true = truth(scenario, np.random.default_rng(seed + 10_000))
    hits: dict[str, dict[str, list[bool]]] = {}
    rejections: dict[str, list[bool]] = {}
    for r in range(replicates):
        items, annotators, labels, schemes, scores, n_annotators = campaign(rng, scenario)
        votes = iv.crossed_votes(items, annotators, labels, len(schemes), THRESHOLD, POLICY)
        methods = {"crossed": crossed_intervals(votes, schemes, scores), "wilson": wilson_intervals(votes, schemes)}
        if bootstrap:
            methods["bootstrap"] = bootstrap_intervals(items, annotators, labels, schemes, scores, n_annotators,
                                                       bootstrap, seed + r)
        for method, found in methods.items():
            for name, interval in found.items():
                if interval is None or true.get(name) is None:
                    continue
                hits.setdefault(method, {}).setdefault(name, []).append(interval.low <= true[name] <= interval.high)
            null = found.get("difference vs random_flip")
            if scenario.null and null is not None:
                rejections.setdefault(method, []).append(not (null.low <= 0 <= null.high))
    return {"hits": hits, "rejections": rejections}


def table(scenario: Scenario, result: dict) -> list[str]:
    lines = []
    for method, per_name in result["hits"].items():
        kinds: dict[str, list[str]] = {}
        for name in per_name:
            kinds.setdefault(kind_of(name), []).append(name)
        for kind, names in kinds.items():
            pooled = np.mean([h for n in names for h in per_name[n]])
            single = [np.mean(per_name[n]) for n in names]
            lines.append(f"| {scenario.name} | {method} | {kind} | {pooled:.1%} | {min(single):.1%}-{max(single):.1%} "
                         f"| {len(per_name[names[0]])} |")
        if method in result["rejections"]:
            rate = np.mean(result["rejections"][method])
            lines.append(f"| {scenario.name} | {method} | null rejection (low-active vs random flip) | {rate:.1%} | "
                         f"| {len(result['rejections'][method])} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=0, help="resamples of the two-way bootstrap (0: skip it)")
    parser.add_argument("--scenario", action="append", help="run only scenarios whose name contains this")
    args = parser.parse_args()
    started = time.perf_counter()
    print("| scenario | method | figure | coverage | single figures | campaigns |")
    print("|---|---|---|---|---|---|")
    for i, scenario in enumerate(SCENARIOS):
        if args.scenario and not any(s in scenario.name for s in args.scenario):
            continue
        for line in table(scenario, run(scenario, args.replicates, args.seed + 1000 * i, args.bootstrap)):
            print(line, flush=True)
    print(f"\n{args.replicates} campaigns per scenario, {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

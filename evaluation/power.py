"""Sample-size planning: the power of the frozen primary test, by simulating the very analysis the report runs.

Each simulated campaign draws annotators with their own logit bias towards L1 (heterogeneous annotators) and images
with their own logit effect, gives every image `annotators_per_image` votes from distinct annotators, applies the
campaign's consensus rule (threshold, tie policy, treatment of "inconclusive": stats.consensus, as the report does)
and decides the primary hypothesis with hypothesis.decide, the report's own function. Power is the share of
simulated campaigns in which the hypothesis is supported; its Monte-Carlo error is sqrt(P (1 - P) / simulations).

Assumed, and said on the page: an L1 rate is the chance that a typical annotator votes L1 on a typical image of the
scheme (the centre on the logit scale; biases and image effects spread around it); the other votes fall on L2, L3
and L4 in the proportions REST_SPLIT; nobody is excluded. The permutation test (vote-share endpoint) uses
PLANNER_PERMUTATIONS random splits here, where the report uses stats.PERMUTATIONS: its p-value is the same test with
a coarser Monte-Carlo resolution.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from django import forms
from scipy.special import expit, logit

from . import hypothesis, stats
from .models import ReportSettings

DEFAULT_SIMULATIONS = 200
MAX_SIMULATIONS = 2000
PLANNER_PERMUTATIONS = 999
REST_SPLIT = (0.35, 0.5, 0.15)  # where a vote that is not L1 goes: L2, L3, L4
DEFAULT_TARGET_RATE = 0.30
DEFAULT_BASELINE_RATE = 0.15
DEFAULT_ANNOTATOR_SD = 0.8
DEFAULT_IMAGE_SD = 0.5


@dataclass(frozen=True)
class Plan:
    images_per_scheme: int
    annotators_per_image: int
    annotators: int  # taking part: each image's voters are drawn from them
    rates: dict[str, float]  # assumed L1 rate per scheme (target and comparisons)
    annotator_sd: float  # sd of the annotators' logit biases
    image_sd: float  # sd of the images' logit effects
    simulations: int


@dataclass(frozen=True)
class PowerResult:
    plan: Plan
    supported: int
    seconds: float

    @property
    def power(self) -> float:
        return self.supported / self.plan.simulations

    @property
    def mc_error(self) -> float:
        p = self.power
        return float(np.sqrt(p * (1 - p) / self.plan.simulations))


def _one_campaign(s: ReportSettings, plan: Plan, schemes: list[str], rng: np.random.Generator) -> bool | None:
    n, m = plan.images_per_scheme, plan.annotators_per_image
    total = n * len(schemes)
    bias = rng.normal(0.0, plan.annotator_sd, plan.annotators)
    # Each image's voters: m distinct annotators (the m smallest of random keys).
    voters = np.argpartition(rng.random((total, plan.annotators)), m - 1, axis=1)[:, :m]
    centre = np.repeat([logit(plan.rates[name]) for name in schemes], n)
    p_l1 = expit(centre[:, None] + rng.normal(0.0, plan.image_sd, total)[:, None] + bias[voters])
    labels = np.where(rng.random((total, m)) < p_l1, 0, 1 + rng.choice(3, size=(total, m), p=REST_SPLIT))
    table = stats.vote_table(np.repeat(np.arange(total), m), labels.ravel(), total)
    if s.abstain_inconclusive:
        table[:, 3] = 0
    consensus = stats.consensus(table, s.threshold, s.tie_policy).labels
    votes = table.sum(axis=1)
    share = np.divide(table[:, 0], votes, out=np.zeros(total), where=votes > 0)
    per_scheme, shares = {}, {}
    for k, name in enumerate(schemes):
        mine, has = consensus[k * n:(k + 1) * n], votes[k * n:(k + 1) * n] > 0
        per_scheme[name] = (int((mine == 0).sum()), int((mine != stats.NO_CONSENSUS).sum()))
        shares[name] = share[k * n:(k + 1) * n][has]
    return hypothesis.decide(s, per_scheme, shares, resamples=PLANNER_PERMUTATIONS).supported


def simulate(s: ReportSettings, plan: Plan, *, seed: int = 0) -> PowerResult:
    """The power of the registered primary test under `plan` (a fixed seed: the page reads the same every time)."""
    started = time.perf_counter()
    schemes = [s.target_scheme, *s.comparisons]
    rng = np.random.default_rng(seed)
    supported = sum(bool(_one_campaign(s, plan, schemes, rng)) for _ in range(plan.simulations))
    return PowerResult(plan, supported, time.perf_counter() - started)


class PlanForm(forms.Form):
    images_per_scheme = forms.IntegerField(min_value=2, max_value=5000, label="Images per scheme")
    annotators_per_image = forms.IntegerField(min_value=1, max_value=50, label="Annotators per image")
    annotators = forms.IntegerField(min_value=1, max_value=5000, label="Annotators taking part",
                                    help_text="Each image's votes come from distinct annotators drawn among them.")
    annotator_sd = forms.FloatField(min_value=0, max_value=5, initial=DEFAULT_ANNOTATOR_SD,
                                    label="Annotator heterogeneity (sd of logit biases)")
    image_sd = forms.FloatField(min_value=0, max_value=5, initial=DEFAULT_IMAGE_SD,
                                label="Image heterogeneity (sd of logit effects)")
    simulations = forms.IntegerField(min_value=20, max_value=MAX_SIMULATIONS, initial=DEFAULT_SIMULATIONS,
                                     label="Simulated campaigns")

    def __init__(self, settings: ReportSettings, data=None):
        campaign = settings.campaign
        self.schemes = [settings.target_scheme, *settings.comparisons]
        initial = {"images_per_scheme": max(campaign.pool.per_scheme, 2), "annotators_per_image": campaign.annotators_per_image,
                   "annotators": max(campaign.enrolment_limit() or 30, campaign.annotators_per_image),
                   "annotator_sd": DEFAULT_ANNOTATOR_SD, "image_sd": DEFAULT_IMAGE_SD,
                   "simulations": DEFAULT_SIMULATIONS}
        if data is not None:
            data = {**{k: str(v) for k, v in initial.items()}, **data.dict()}
        super().__init__(data, initial=initial)
        for k, name in enumerate(self.schemes):
            rate = DEFAULT_TARGET_RATE if k == 0 else DEFAULT_BASELINE_RATE
            self.fields[f"rate_{name}"] = forms.FloatField(min_value=0.001, max_value=0.999, initial=rate,
                                                           label=f"Assumed L1 rate: {name}")
            if data is not None and not data.get(f"rate_{name}"):
                self.data[f"rate_{name}"] = str(rate)

    @property
    def rate_fields(self):
        return [self[f"rate_{name}"] for name in self.schemes]

    @property
    def setting_fields(self):
        return [self[name] for name in ("images_per_scheme", "annotators_per_image", "annotators", "annotator_sd",
                                        "image_sd", "simulations")]

    def clean(self):
        data = super().clean()
        per_image, annotators = data.get("annotators_per_image"), data.get("annotators")
        if per_image and annotators and annotators < per_image:
            raise forms.ValidationError(f"Each image needs {per_image} distinct annotators: at least that many must "
                                        "take part.")
        return data

    def plan(self) -> Plan:
        d = self.cleaned_data
        return Plan(d["images_per_scheme"], d["annotators_per_image"], d["annotators"],
                    {name: d[f"rate_{name}"] for name in self.schemes}, d["annotator_sd"], d["image_sd"],
                    d["simulations"])

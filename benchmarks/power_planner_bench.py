"""The power planner at the paper's scale, and how long a planner page waits for it.

Runs evaluation.power.simulate (the report's own consensus rule and primary test, annotators with logit biases) for
the registered defaults (low_active beats every one of regular, noisy, random_flip; Fisher on the consensus images;
alpha 0.05) and a few variants, and prints power, its Monte-Carlo standard error and the seconds each took.

Usage: python benchmarks/power_planner_bench.py [--simulations 200] [--annotators 30]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

import django  # noqa: E402

django.setup()

from evaluation import power  # noqa: E402
from evaluation.models import ReportSettings  # noqa: E402

# L1 rates: the shape of the report benchmark's label probabilities (roughly the paper's), a smaller effect, none.
RATES = {
    "paper-like": {"low_active": 0.35, "regular": 0.05, "noisy": 0.05, "random_flip": 0.15},
    "smaller": {"low_active": 0.25, "regular": 0.10, "noisy": 0.10, "random_flip": 0.15},
    "small": {"low_active": 0.20, "regular": 0.10, "noisy": 0.10, "random_flip": 0.15},
    "none": {"low_active": 0.15, "regular": 0.15, "noisy": 0.15, "random_flip": 0.15},
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--simulations", type=int, default=power.DEFAULT_SIMULATIONS)
    parser.add_argument("--annotators", type=int, default=30)
    args = parser.parse_args()
    print(f"{'images/scheme':>13} {'per image':>9} {'rates':>10} {'endpoint':>12} {'family':>6} {'power':>7} "
          f"{'MC se':>6} {'seconds':>7}")
    variants = [("consensus_l1", "all"), ("vote_share", "all"), ("consensus_l1", "any")]
    for per_scheme in (125, 500):
        for name, rates in RATES.items():
            for endpoint, family in variants:
                if per_scheme == 500 and endpoint == "vote_share":
                    continue
                settings = ReportSettings(endpoint=endpoint, family=family)
                plan = power.Plan(per_scheme, 9, args.annotators, rates, power.DEFAULT_ANNOTATOR_SD,
                                  power.DEFAULT_IMAGE_SD, args.simulations)
                r = power.simulate(settings, plan)
                print(f"{per_scheme:>13} {9:>9} {name:>10} {endpoint:>12} {family:>6} {r.power:>7.1%} "
                      f"{r.mc_error:>6.1%} {r.seconds:>7.1f}", flush=True)


if __name__ == "__main__":
    main()

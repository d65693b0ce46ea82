"""Print the markdown table of docs/howto/reproduce-table-1.md for one `python -m creative_core reproduce` output folder.

    python benchmarks/core_tables.py runs/reproduce-mnist-fmnist
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

LABELS = {"low_active": "Low-active", "noisy": "Noisy", "random_flip": "Random flip", "regular": "Regular"}


def main(folder: str) -> None:
    out = Path(folder)
    rows = list(csv.DictReader(open(out / "results.csv")))
    p = json.loads((out / "params.json").read_text())
    m, prof, la = p["model_meta"], p["profile"], p["schemes"]["low_active"]["derived"]
    lo, hi = la["band_percent_active"]
    print(f"{m['dataset']} (z = {m['latent_dim']}; test ELBO {m['test_elbo']:.1f}; {prof['units_never_firing']} of the "
          f"{prof['n_units']} units never fire; band {lo:.2f}-{hi:.2f} % active, {la['n_low_active']} low-active units).")
    print(f"Took {p['seconds_total']:.0f} s (training {m['seconds']:.0f} s):\n")
    print("| Scheme | paper D_r | ours, amortised | ours, optimised | converged |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {LABELS[r['scheme']]} | {float(r['paper_dr']):.2f} | {float(r['dr_amortised_mean']):.3f} +- "
              f"{float(r['dr_amortised_sem']):.3f} | {float(r['dr_optimised_mean']):.3f} +- "
              f"{float(r['dr_optimised_sem']):.3f} | {100 * float(r['optimised_converged']):.1f} % |")


if __name__ == "__main__":
    main(sys.argv[1])

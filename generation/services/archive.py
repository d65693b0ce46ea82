"""A job's zip for researchers: samples.csv (the provenance of every sample), the written PNGs, a README.txt."""

from __future__ import annotations

import csv
import io
import zipfile
from typing import IO

from ..models import MEASURED_FIELDS, GenerationJob
from .results import Results

CSV_COLUMNS = ["scheme", "index", "public_id", "file", "units", "noise_seed", *MEASURED_FIELDS, "z"]


def _cell(value: float | bool | None) -> str | int:
    """A measurement as the CSV shows it: empty when not computed, 0/1 for a flag, 6 significant digits."""
    if value is None:
        return ""
    return int(value) if isinstance(value, bool) else f"{value:.6g}"


def readme(job: GenerationJob, *, n_samples: int, n_images: int) -> str:
    """What the zip holds and why: images exist only for samples drawn into pools (or all, when the job asked)."""
    pools = list(job.pools.order_by("created_at"))
    schemes = ", ".join(job.schemes)
    lines = [
        f"Job {job.pk} on model {job.trained_model}: {job.samples_per_scheme:,} samples of each scheme ({schemes}), "
        f"seed {job.seed}.",
        "",
        f"samples.csv: one row for each of the job's {n_samples:,} samples: its scheme, index, the units switched on,",
        "the noise seed, the amortised and optimised D_r (the optimised one and its convergence are empty when the job",
        "did not compute it), the surrogates beyond D_r (the model's classifier's predictive entropy, top class",
        "probability and out-of-class scores, the distance to the nearest training image in pixels and in the",
        "classifier's features; empty where the classifier cannot give them), the latent z; public_id and file for",
        "the samples that have an image.",
        "",
    ]
    if job.write_all_images:
        lines.append(f"images/: {n_images:,} PNG files, one per sample: the job wrote an image for every sample.")
    elif n_images:
        names = "; ".join(f"{p.name} ({p.per_scheme} per scheme)" for p in pools)
        lines += [
            f"images/: {n_images:,} PNG files: the samples drawn into this job's sample pools ({names}).",
            "A job keeps every sample's measurements, but writes an image only for the samples a pool draws.",
        ]
    else:
        lines += [
            "images/: none. A job keeps every sample's measurements, but writes an image only for the samples a",
            "pool draws, and no pool has been built from this job yet. To get images, use \"Build a sample pool\" on",
            "the job's page in the admin, then download this zip again (or make a copy of the job with \"Write all",
            "images\" on, which writes a PNG for every sample).",
        ]
    lines += ["", "File names are random ids: they say nothing about the scheme (samples.csv does)."]
    return "\n".join(lines) + "\n"


def write_archive(job: GenerationJob, out: IO[bytes]) -> None:
    """A zip of the job's written PNGs and samples.csv: the provenance of every sample (researchers only)."""
    results = Results.load(job)
    written = {(s.scheme, s.index): s for s in job.samples.exclude(image="")}
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(CSV_COLUMNS)
        for i in range(len(results.index)):
            scheme, index = results.schemes[results.scheme[i]], int(results.index[i])
            sample = written.get((scheme, index))
            fields = results.sample_fields(i)
            writer.writerow([
                scheme, index, sample.public_id if sample else "",
                f"images/{sample.public_id}.png" if sample else "",
                " ".join(str(int(u)) for u in results.units[i] if u >= 0),
                int(results.noise_seed[i]) if results.noise_seed[i] >= 0 else "",
                *[_cell(fields.get(name)) for name in MEASURED_FIELDS],
                " ".join(f"{float(v):.6g}" for v in results.z[i]),
            ])
        zf.writestr("samples.csv", text.getvalue())
        zf.writestr("README.txt", readme(job, n_samples=len(results.index), n_images=len(written)))
        for sample in written.values():
            with sample.image.open("rb") as fh:
                zf.writestr(f"images/{sample.public_id}.png", fh.read(), compress_type=zipfile.ZIP_STORED)


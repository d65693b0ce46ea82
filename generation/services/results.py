"""A job's results file: every sample of the job, compactly, in one .npz."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings

from ..errors import JobError
from ..models import GenerationJob

METRIC_PREFIX = "metric_"


def measured_fields(dr_amortised, dr_optimised, converged, metrics: dict) -> dict:
    """One sample's measurements as its Sample fields: a NaN (not computed) becomes None, and so does the
    convergence of an optimised D_r that was not computed."""
    dro = float(dr_optimised)
    out = {"dr_amortised": float(dr_amortised), "dr_optimised": None if np.isnan(dro) else dro,
           "dr_converged": None if np.isnan(dro) else bool(converged)}
    for name, value in metrics.items():
        v = float(value)
        out[name] = None if np.isnan(v) else v
    return out


@dataclass
class Results:
    """Every sample of a job, compactly: row i is sample `index[i]` of scheme `schemes[scheme[i]]`."""

    schemes: list[str]
    scheme: np.ndarray  # (N,) int8
    index: np.ndarray  # (N,) int32
    units: np.ndarray  # (N, k) int32, -1 padded
    noise_seed: np.ndarray  # (N,) int64, -1 when the scheme draws no noise
    z: np.ndarray  # (N, zdim) float32
    dr_amortised: np.ndarray  # (N,) float32
    dr_optimised: np.ndarray  # (N,) float32, NaN when not computed
    converged: np.ndarray  # (N,) bool
    # (schemes, R, C, H, W) uint8: the images of samples 0..R-1 of each scheme, as their PNGs will hold them.
    reserve: np.ndarray | None = None
    # The surrogates beyond D_r (creative_core.SURROGATE_NAMES): name -> (N,) float32, NaN where not given.
    metrics: dict[str, np.ndarray] = field(default_factory=dict)

    def sample_fields(self, row: int) -> dict:
        """The measurements of row `row` as a Sample's fields (None where not computed)."""
        return measured_fields(self.dr_amortised[row], self.dr_optimised[row], self.converged[row],
                               {name: values[row] for name, values in self.metrics.items()})

    def save(self, name: str) -> None:
        path = Path(settings.MEDIA_ROOT) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, schemes=np.array(self.schemes), scheme=self.scheme, index=self.index, units=self.units,
                         noise_seed=self.noise_seed, z=self.z, dr_amortised=self.dr_amortised,
                         dr_optimised=self.dr_optimised, converged=self.converged,
                         **({"reserve": self.reserve} if self.reserve is not None else {}),
                         **{f"{METRIC_PREFIX}{k}": v for k, v in self.metrics.items()})
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(cls, job: GenerationJob) -> Results:
        if not job.results:
            raise JobError(f"{job} has no results yet (status {job.status}).")
        try:
            with job.results.open("rb") as fh, np.load(fh) as data:
                arrays = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise JobError(f"The results file of {job} cannot be read ({exc}); relaunch the job.") from exc
        metrics = {k[len(METRIC_PREFIX):]: arrays.pop(k) for k in list(arrays) if k.startswith(METRIC_PREFIX)}
        return cls(schemes=[str(s) for s in arrays.pop("schemes")], metrics=metrics, **arrays)

    def rows(self, scheme: str, indices: np.ndarray) -> np.ndarray:
        """Positions in the arrays of the given sample indices of one scheme."""
        s = self.schemes.index(scheme)
        pos = np.flatnonzero(self.scheme == s)
        return pos[np.searchsorted(self.index[pos], indices)]


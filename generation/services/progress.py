"""A job's progress bar by each phase's share of the work, so that it moves through every phase at about the pace
of the clock: setting up the surrogate scorer, generating, the amortised and the optimised D_r, the surrogate
metrics and writing the files.

The shares are the relative costs measured in the demo's job (the default MLP VAE on all of MNIST, 200 samples of
each scheme, optimised D_r at 100 steps) on a 2-core CPU: milliseconds per sample, the scorer's setup per training
image. On another machine every phase is faster or slower by about the same factor, so the shares hold even when
the seconds do not.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..models import GenerationJob
from .rows import beat

GENERATE = 1.45  # per sample
DR_AMORTISED = 1.0  # per sample
DR_OPTIMISED_STEP = 0.7  # per sample, start and step
SURROGATES_PER_1000_TRAIN = 0.2  # per sample, per 1,000 training images it is compared with
FEATURES_PER_TRAIN_IMAGE = 1.3  # the scorer's setup: the classifier's features of one training image
WRITE_IMAGE = 2.0  # a PNG and its row, per sample written
SAVE = 0.01  # the results file, per sample
MOST_BEFORE_DONE = 0.99  # the row shows 100% only once the job has succeeded
BEAT_EVERY = 0.5  # seconds: the most often a phase writes its progress while it runs


def job_work(job: GenerationJob, n_train: int, n_schemes: int) -> dict[str, float]:
    """{phase: its cost in the whole job} (same unit for all phases)."""
    n = job.samples_per_scheme * n_schemes
    starts = 2  # the encoder's mean and the image's own latent (see jobs.measure_scheme)
    return {
        "setup": FEATURES_PER_TRAIN_IMAGE * n_train,
        "generate": GENERATE * n,
        "dr_amortised": DR_AMORTISED * n,
        "dr_optimised": DR_OPTIMISED_STEP * n * starts * job.optimise_steps if job.optimise_dr else 0.0,
        "surrogates": SURROGATES_PER_1000_TRAIN * n * n_train / 1000,
        "write_images": WRITE_IMAGE * n if job.write_all_images else 0.0,
        "save": SAVE * n,
    }


class Meter:
    """Moves a work row's progress as phases finish (`add`) and while a long one runs (`within`); each write is
    also the row's heartbeat and cancellation check (beat raises Stopped)."""

    def __init__(self, row: GenerationJob, work: dict[str, float]) -> None:
        self.row, self.work = row, work
        self.total = sum(work.values()) or 1.0
        self.done = 0.0
        self.last_beat = 0.0

    def share(self, phase: str, samples: int, of: int) -> float:
        """The cost of `samples` of the phase's `of` samples."""
        return self.work[phase] * samples / of if of else 0.0

    def add(self, amount: float) -> None:
        self.done += amount
        self._beat(self.done)

    def within(self, amount: float) -> Callable[[float], None]:
        """on_progress(fraction) for a step of `amount` that reports how far it is; call add(amount) after it."""

        def report(fraction: float) -> None:
            if time.monotonic() - self.last_beat >= BEAT_EVERY:
                self._beat(self.done + amount * min(max(fraction, 0.0), 1.0))

        return report

    def _beat(self, done: float) -> None:
        self.last_beat = time.monotonic()
        beat(self.row, MOST_BEFORE_DONE * min(done / self.total, 1.0))

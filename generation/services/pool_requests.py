"""What a pool may ask for: every bound a form can check before a build is queued (sizes, seed, attention checks
the data set can supply), as messages per field."""

from __future__ import annotations

from django.conf import settings

from ..errors import JobError
from ..models import MAX_SEED, GenerationJob, JobStatus


def pool_problems(job: GenerationJob, *, per_scheme: int, seed: int, attention_checks: int) -> dict[str, str]:
    """{field: why it cannot be built} (empty when it can), without touching the data: every bound a form can check."""
    problems: dict[str, str] = {}
    if job.status != JobStatus.SUCCEEDED:
        problems["__all__"] = f"{job} has not succeeded (status {job.status}); a pool needs a finished job."
    n = job.samples_per_scheme
    if not 1 <= per_scheme <= n:
        problems["per_scheme"] = f"A pool takes between 1 and {n} samples per scheme from this job, not {per_scheme}."
    if not 0 <= seed <= MAX_SEED:
        problems["seed"] = f"The seed must be between 0 and {MAX_SEED:,} (2**32 - 1), not {seed}."
    generated = max(per_scheme, 0) * len(job.schemes)
    if attention_checks < 0:
        problems["attention_checks"] = "The number of attention checks cannot be negative."
    elif attention_checks > generated and "per_scheme" not in problems:
        problems["attention_checks"] = (
            f"At most {generated} attention checks: no more than the pool's generated images "
            f"({per_scheme} per scheme x {len(job.schemes)} schemes), not {attention_checks}.")
    return problems


def training_set_size(job: GenerationJob, train: bool = True) -> int | None:
    """How many images of the model's data set (its training split, else its held-out test split) attention checks
    can be drawn from; None when the data cannot be loaded here."""
    import creative_core as cc

    model = job.trained_model
    try:
        return len(cc.load_dataset(model.dataset_name, train=train, root=settings.DATA_ROOT))  # type: ignore[arg-type]
    except (cc.DataError, ValueError, OSError):
        return None


def attention_supply_problem(job: GenerationJob, n: int, kind: str) -> str:
    """Why the data set cannot supply n attention checks of this kind ("" when it can, or cannot be told here)."""
    from .. import attention

    try:
        n_raw, n_rec = attention.split(kind, n)
    except JobError as exc:
        return str(exc)
    for wanted, train, what in ((n_raw, True, "training images"), (n_rec, False, "held-out (test) images")):
        size = training_set_size(job, train) if wanted else None
        if size is not None and wanted > size:
            return f"The data set has {size:,} {what}: ask for at most that many of them as attention checks."
    return ""


def check_pool_request(job: GenerationJob, *, per_scheme: int, seed: int, attention_checks: int) -> None:
    problems = pool_problems(job, per_scheme=per_scheme, seed=seed, attention_checks=attention_checks)
    if problems:
        raise JobError(" ".join(problems.values()))

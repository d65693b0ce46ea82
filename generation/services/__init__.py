"""The work of the generation app: training models, running generation jobs, building sample pools.

Celery tasks (generation.tasks) and admin actions are thin wrappers around these functions; the heavy lifting is
done by creative_core. One job per module, imported one way (tasks -> services; services send tasks by name):

- `rows`: rows a worker moves along (claim, heartbeat, fail, queue, cancel) and the stale-row check;
- `training`: train, profile and save a model;
- `jobs`: check, queue and run a generation job, and make its samples again;
- `previews`: what a researcher sees of a job (mean D_r per scheme, grids of its samples);
- `results`: a job's results file (every sample, compactly);
- `pools`: build a sample pool (a task with a PoolBuild row, or in this process), and the sweep;
- `archive`: a job's zip for researchers;
- `surrogates`: a model's classifier (trained after the model, or by its first job) and the scorer a job uses.

Three promises hold throughout:

- Idempotence. A worker claims a row (queued, or running with a dead worker) under a row lock before
  working on it; a second delivery of the same task finds it claimed or finished and does nothing.
  Sample rows are unique per (job, scheme, index) and are never written twice.
- No worker is trusted to finish. A running row carries a heartbeat written at every batch; a row
  whose heartbeat is too old is failed by `fail_stale_work` (periodic task, and every admin look),
  and may then be relaunched. Every write a worker makes is conditional on the row still being
  "running", so a cancelled or given-up row is never overwritten, and the worker stops.
- Blinding. Files are named by random ids, written in shuffled order, as PNGs without metadata.
"""

from ..errors import JobError, Stopped
from .archive import CSV_COLUMNS, write_archive
from .common import batch_size, pick_device, pool_reserve
from .jobs import check_runnable, launch_job, run_job, scheme_fit_problems
from .pool_requests import attention_supply_problem, check_pool_request, pool_problems, training_set_size
from .pools import build_pool, fail_stale_work, launch_pool_build, run_pool_build
from .previews import job_scheme_dr, paired_grid, preview_grid
from .results import Results
from .rows import cancel, progress_of
from .training import launch_training, train_model

__all__ = [
    "attention_supply_problem", "CSV_COLUMNS", "JobError", "Results", "Stopped", "batch_size", "build_pool", "cancel", "check_pool_request",
    "check_runnable", "fail_stale_work", "job_scheme_dr", "launch_job", "launch_pool_build", "launch_training",
    "paired_grid", "pick_device", "pool_problems", "pool_reserve", "preview_grid", "progress_of", "run_job", "run_pool_build",
    "scheme_fit_problems", "train_model", "training_set_size", "write_archive",
]

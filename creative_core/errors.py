"""The library's own exceptions, so callers (the Django app, the CLI) can tell them from bugs."""

from __future__ import annotations


class Cancelled(Exception):
    """Raised by `train` when its `should_stop()` callback says so (a researcher cancelled the job)."""


class CheckpointError(Exception):
    """A checkpoint file is missing, unreadable, or not a creative_core checkpoint."""


class DataError(Exception):
    """A data set is missing, fails its checksum, or cannot be fetched; the message says what to run."""

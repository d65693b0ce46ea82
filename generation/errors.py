"""The generation app's errors, in a module of their own: the services raise them and so do modules the services
import (attention.py), so they must not live in the services package, whose __init__ imports every service."""

from __future__ import annotations


class JobError(Exception):
    """A failure a researcher can act on; its message is stored on the row as it is."""


class Stopped(Exception):
    """The row stopped being "running" under the worker (cancelled, or given up as stale)."""

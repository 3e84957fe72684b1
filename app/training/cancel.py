"""Stopping long training work early when the job that runs it is cancelled."""
from __future__ import annotations

from collections.abc import Callable


class Cancelled(Exception):
    """Raised by `extract_many` and `train` when `should_stop()` turned true; nothing is returned."""


def check(should_stop: Callable[[], bool] | None) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled("stopped on request")

"""The public-route marker: the one access fact core needs, kept here so core imports no domain.

app.auth.deps's gate reads it (every route needs a login unless its endpoint is marked `@public`).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def public(endpoint: F) -> F:
    """Mark a route as reachable without login (login page, health check, static assets)."""
    endpoint.__concord_public__ = True  # type: ignore[attr-defined]
    return endpoint


def is_public(endpoint: Any) -> bool:
    return bool(getattr(endpoint, "__concord_public__", False))

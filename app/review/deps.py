"""Request parsing shared by the review pages and API: the queue's filters."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from app.review.queue import QueueFilters


def queue_filters(
    state: Annotated[str, Query(max_length=20, description="open, returned, ambiguous, resolved, closed or all")]
    = "open",
    kind: Annotated[str | None, Query(max_length=40, description="conflict kind")] = None,
    pair: Annotated[str | None, Query(max_length=40, description="two class ids, e.g. 3-4")] = None,
    labeler: Annotated[str | None, Query(max_length=20, description="a labeler's user id")] = None,
    line: Annotated[str | None, Query(max_length=100)] = None,
    camera: Annotated[str | None, Query(max_length=100)] = None,
    shift: Annotated[str | None, Query(max_length=100)] = None,
    batch: Annotated[str | None, Query(max_length=100)] = None,
) -> QueueFilters:
    params = {"state": state, "kind": kind, "pair": pair, "labeler": labeler, "line": line, "camera": camera,
              "shift": shift, "batch": batch}
    return QueueFilters.parse({k: v for k, v in params.items() if v is not None})


Filters = Annotated[QueueFilters, Depends(queue_filters)]

"""Keyset pagination: read a large result page by page with bounded memory and no open cursor.

Each page is its own short query (`WHERE key > last ORDER BY key LIMIT n`), so nothing holds a
server-side cursor or the whole result, and a caller may end its transaction between pages
(a frozen version never changes, so pages read in different transactions still agree).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session

PAGE = 2000


def keyset(db: Session, stmt: Select[Any], key: Any, *, page: int = PAGE) -> Iterator[Any]:
    """Rows of `stmt` in ascending `key` order; `key` must be unique and the first selected column."""
    last = None
    while True:
        query = stmt.order_by(key).limit(page)
        if last is not None:
            query = query.where(key > last)
        rows = db.connection().execute(query).all()  # Core rows: no ORM bookkeeping per row
        yield from rows
        if len(rows) < page:
            return
        last = rows[-1][0]

"""Keyset paging: a page is `WHERE key > last ORDER BY key LIMIT n`, never an OFFSET.

Each page is its own short query, so nothing holds a server-side cursor or the whole result, a
caller may end its transaction between pages, and page 1000 costs what page 1 costs. `key` must be
unique (an id) so no row falls between two pages.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

PAGE = 2000
Q = TypeVar("Q", bound=Select[*tuple[Any, ...]])


def page_after(stmt: Q, key: Any, last: Any | None, limit: int) -> Q:
    """The first `limit` rows with a key above `last` (from the start when None), ascending."""
    query = stmt.order_by(key).limit(limit)
    return query if last is None else query.where(key > last)


def page_before(stmt: Q, key: Any, first: Any, limit: int) -> Q:
    """The `limit` rows just below `first`, DESCENDING: reverse them to show them in key order."""
    return stmt.where(key < first).order_by(key.desc()).limit(limit)


def keyset(db: Session, stmt: Select[Any], key: Any, *, page: int = PAGE) -> Iterator[Any]:
    """Every row of `stmt` in ascending `key` order, page by page; `key` must be the first column."""
    last = None
    while True:
        rows = db.connection().execute(page_after(stmt, key, last, page)).all()  # Core rows: no ORM bookkeeping
        yield from rows
        if len(rows) < page:
            return
        last = rows[-1][0]

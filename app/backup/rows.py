"""Table rows as portable JSON lines: what SQLite writes, Postgres reads back, and the other way round.

A table member is gzipped JSON lines: first {"table", "columns", "kinds"}, then one JSON array per row
in primary-key order. Values are encoded by column kind, never guessed from the value:
- json: the column's JSON text (a string), or null for SQL NULL. Reading the text (CAST AS TEXT)
  rather than the decoded value keeps a stored JSON `null` apart from SQL NULL, which query filters
  (`IS NULL`) tell apart; on Postgres it is cast back to JSONB on insert.
- datetime / date: ISO 8601 (UTC datetimes carry +00:00); bytes: base64; decimal: a string.
- everything else (integers, floats, booleans, text): the JSON value itself.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Column, Connection, Insert, Select, Table, Text, bindparam, cast, insert, select
from sqlalchemy.types import TypeDecorator

PLAIN, JSON_TEXT, DATETIME, DATE, BYTES, DECIMAL = "plain", "json", "datetime", "date", "bytes", "decimal"


def kind_of(column: Column[Any]) -> str:
    type_: Any = column.type
    while isinstance(type_, TypeDecorator):  # UTCDateTime and the like: what the database stores
        type_ = type_.impl_instance
    if isinstance(type_, JSON):
        return JSON_TEXT
    try:
        python = type_.python_type
    except NotImplementedError:
        return PLAIN
    if issubclass(python, datetime):
        return DATETIME
    if issubclass(python, date):
        return DATE
    if issubclass(python, bytes):
        return BYTES
    if issubclass(python, Decimal):
        return DECIMAL
    return PLAIN


@dataclass
class TableCodec:
    table: Table
    columns: list[Column[Any]]
    kinds: list[str]

    @classmethod
    def of(cls, table: Table) -> TableCodec:
        columns = list(table.columns)
        return cls(table, columns, [kind_of(c) for c in columns])

    def header(self) -> dict[str, Any]:
        return {"table": self.table.name, "columns": [c.name for c in self.columns], "kinds": self.kinds}

    def select(self) -> Select[Any]:
        picked = [cast(c, Text).label(c.name) if k == JSON_TEXT else c for c, k in zip(self.columns, self.kinds,
                                                                                       strict=True)]
        return select(*picked).order_by(*self.table.primary_key.columns)

    def encode(self, row: Any) -> list[Any]:
        return [_encode(kind, value) for kind, value in zip(self.kinds, row, strict=True)]

    def decode(self, values: list[Any]) -> dict[str, Any]:
        return {c.name: _decode(k, v) for c, k, v in zip(self.columns, self.kinds, values, strict=True)}

    def insert(self, dialect: str) -> Insert:
        """An INSERT taking every column as a bound parameter (JSON columns as their text)."""
        values: dict[str, Any] = {}
        for column, kind in zip(self.columns, self.kinds, strict=True):
            if kind != JSON_TEXT:
                values[column.name] = bindparam(column.name, type_=column.type)
            elif dialect == "postgresql":
                values[column.name] = cast(bindparam(column.name, type_=Text), column.type)
            else:  # SQLite keeps JSON as text; a CAST would apply NUMERIC affinity to it
                values[column.name] = bindparam(column.name, type_=Text)
        return insert(self.table).values(values)


def _encode(kind: str, value: Any) -> Any:
    if value is None or kind in (PLAIN, JSON_TEXT):
        return value
    if kind in (DATETIME, DATE):
        return value.isoformat()
    if kind == BYTES:
        return base64.b64encode(value).decode("ascii")
    return str(value)


def _decode(kind: str, value: Any) -> Any:
    if value is None or kind in (PLAIN, JSON_TEXT):
        return value
    if kind == DATETIME:
        return datetime.fromisoformat(value)
    if kind == DATE:
        return date.fromisoformat(value)
    if kind == BYTES:
        return base64.b64decode(value)
    return Decimal(value)


def dump_lines(connection: Connection, codec: TableCodec, *, batch: int = 1000) -> Iterator[tuple[str, list[Any]]]:
    """(JSON line, encoded row) for the header and each row, streamed (server-side cursor on Postgres)."""
    yield json.dumps(codec.header()) + "\n", []
    result = connection.execution_options(stream_results=True, yield_per=batch).execute(codec.select())
    for row in result:
        values = codec.encode(row)
        yield json.dumps(values, ensure_ascii=False) + "\n", values

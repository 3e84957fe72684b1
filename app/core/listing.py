"""Allowlisted sorting and filtering for list endpoints (reliability #23).

A client names fields by public names, and only names the route chose are accepted, so a query can
never reach a column nobody meant to expose (`password_hash`) or walk a relationship
(`created_by__password_hash`, the Label Studio leak CVE-2023-47117). Anything else is a 422 naming
the parameter and the allowed values.

    # service.py: the allowlists live next to the queries they shape
    USER_SORT = Sorting({"email": User.email, "created": User.created_at}, default="email", tiebreak=User.id)
    USER_FILTER = Filtering({"active": Filter(User.is_active, parse_bool), "role": Filter(Membership.role, Role)})

    def list_users(db, *, order: SortOrder, filters: FilterSet):
        return db.scalars(filters.apply(order.apply(select(User)))).all()

    # api.py: the query parameters `?sort=-created,email&filter=active:true&filter=role:admin,reviewer`
    def users(db: DbSession, order: Annotated[SortOrder, service.USER_SORT.depends],
              filters: Annotated[FilterSet, service.USER_FILTER.depends]) -> list[UserOut]: ...
"""
# No `from __future__ import annotations`: FastAPI reads the parameter closures' annotations at runtime.
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query
from sqlalchemy import Select
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from app.core.errors import Invalid

Q = TypeVar("Q", bound=Select[*tuple[Any, ...]])  # any select, of one entity or several
Column = ColumnElement[Any] | QueryableAttribute[Any]  # a model attribute (User.email) or an expression
MAX_SORT_KEYS = 4
MAX_FILTERS = 10
MAX_FILTER_VALUES = 50


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise ValueError("expected true or false")


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = False


@dataclass(frozen=True)
class SortOrder:
    """The client's validated sort keys; `apply` turns them into ORDER BY on the allowlisted columns."""

    keys: tuple[SortKey, ...]
    columns: Mapping[str, Column]
    tiebreak: Column | None = None

    def apply(self, query: Q) -> Q:
        clauses = [self.columns[k.field].desc() if k.descending else self.columns[k.field].asc() for k in self.keys]
        if self.tiebreak is not None:
            clauses.append(self.tiebreak.asc())
        return query.order_by(*clauses)


class Sorting:
    """The sort fields one list accepts: `sort=name,-created` (a leading `-` sorts descending)."""

    def __init__(self, columns: Mapping[str, Column], *, default: str,
                 tiebreak: Column | None = None) -> None:
        self.columns = dict(columns)
        self.tiebreak = tiebreak
        self.default = self.parse(default)
        allowed = ", ".join(sorted(self.columns))

        def sort_param(
            sort: Annotated[str | None, Query(max_length=200, description=f"Comma-separated fields, `-` for "
                                              f"descending; one of: {allowed}")] = None,
        ) -> SortOrder:
            return self.parse(sort) if sort else self.default

        self.depends = Depends(sort_param)

    def parse(self, text: str) -> SortOrder:
        """Raises Invalid (field "sort") for an unknown field, a repeated one, or too many."""
        keys: list[SortKey] = []
        for raw in (part.strip() for part in text.split(",")):
            name = raw[1:] if raw.startswith("-") else raw
            if name not in self.columns:
                raise Invalid(f"cannot sort by {name!r}; allowed: {', '.join(sorted(self.columns))}", field="sort")
            if any(k.field == name for k in keys):
                raise Invalid(f"sort field {name!r} is given twice", field="sort")
            keys.append(SortKey(name, raw.startswith("-")))
        if len(keys) > MAX_SORT_KEYS:
            raise Invalid(f"at most {MAX_SORT_KEYS} sort fields", field="sort")
        return SortOrder(tuple(keys), self.columns, self.tiebreak)


@dataclass(frozen=True)
class Filter:
    """One allowlisted filter: the column it compares and how its text value is read (int, an enum...)."""

    column: Column
    parse: Callable[[str], Any] = str


@dataclass(frozen=True)
class FilterSet:
    """Validated filters: field → allowed values (several values of one field mean any of them)."""

    values: Mapping[str, tuple[Any, ...]]
    filters: Mapping[str, Filter]

    def apply(self, query: Q) -> Q:
        for name, values in self.values.items():
            column = self.filters[name].column
            query = query.where(column == values[0] if len(values) == 1 else column.in_(values))
        return query

    def get(self, name: str) -> tuple[Any, ...] | None:
        return self.values.get(name)


class Filtering:
    """The filters one list accepts: `filter=field:value` (repeatable; `field:a,b` means a or b)."""

    def __init__(self, filters: Mapping[str, Filter]) -> None:
        self.filters = dict(filters)
        allowed = ", ".join(sorted(self.filters))

        def filter_param(
            filter_: Annotated[list[str] | None, Query(alias="filter", description=f"`field:value`, repeatable; "
                                                       f"fields: {allowed}")] = None,
        ) -> FilterSet:
            return self.parse(filter_ or [])

        self.depends = Depends(filter_param)

    def parse(self, items: list[str]) -> FilterSet:
        """Raises Invalid (field "filter") for an unknown field or a value its parser refuses."""
        if len(items) > MAX_FILTERS:
            raise Invalid(f"at most {MAX_FILTERS} filters", field="filter")
        values: dict[str, tuple[Any, ...]] = {}
        for item in items:
            name, sep, text = item.partition(":")
            name = name.strip()
            if name not in self.filters:
                raise Invalid(f"cannot filter by {name!r}; allowed: {', '.join(sorted(self.filters))}",
                              field="filter")
            if not sep or not text:
                raise Invalid(f"filter {name!r} needs a value: {name}:value", field="filter")
            parts = text.split(",")
            if len(parts) > MAX_FILTER_VALUES:
                raise Invalid(f"at most {MAX_FILTER_VALUES} values for filter {name!r}", field="filter")
            values[name] = values.get(name, ()) + tuple(self._value(name, part) for part in parts)
        return FilterSet(values, self.filters)

    def _value(self, name: str, text: str) -> Any:
        parser = self.filters[name].parse
        try:
            return parser(text.strip())
        except (ValueError, KeyError):
            expected = f"one of {', '.join(m.value for m in parser)}" if isinstance(parser, type) and issubclass(
                parser, Enum) else "a valid value"
            raise Invalid(f"filter {name!r}: {text!r} is not {expected}", field="filter") from None

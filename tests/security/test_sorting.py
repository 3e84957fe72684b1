"""sort=/filter= take only allowlisted names (#23), everywhere: the helper, and every route of the app."""
from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.core.errors import Invalid
from app.core.listing import Filter, Filtering, Sorting, parse_bool
from tests.security.fill import Fill, World, fill_path
from tests.security.walk import SUSPICIOUS_QUERY, Caller, RouteInfo, api_routes, call, describe, for_each, isolated

SORTS = Sorting({"email": User.email, "created": User.created_at}, default="email", tiebreak=User.id)
FILTERS = Filtering({"active": Filter(User.is_active, parse_bool), "role": Filter(User.email, Role)})
ATTACKS = ["password_hash", "-password_hash", "email,password_hash", "created_by.password_hash",
           "created_by__password_hash", "users.password_hash", "email;drop table users", "(select 1)", ""]


@pytest.mark.parametrize("sort", ATTACKS)
def test_sorting_refuses_anything_not_allowlisted(sort: str) -> None:
    with pytest.raises(Invalid) as refused:
        SORTS.parse(sort)
    assert refused.value.field == "sort"


def test_sorting_reads_direction_and_several_fields() -> None:
    order = SORTS.parse("-created,email")
    assert [(k.field, k.descending) for k in order.keys] == [("created", True), ("email", False)]
    sql = str(order.apply(select(User)))
    assert "ORDER BY users.created_at DESC, users.email ASC, users.id ASC" in sql
    with pytest.raises(Invalid):
        SORTS.parse("email,-email")


@pytest.mark.parametrize("item", ["password_hash:x", "is_site_admin:true", "created_by.password_hash:$",
                                  "active:maybe", "role:superuser", "active", "active:"])
def test_filtering_refuses_unknown_fields_and_bad_values(item: str) -> None:
    with pytest.raises(Invalid) as refused:
        FILTERS.parse([item])
    assert refused.value.field == "filter"


def test_filtering_parses_values_and_alternatives() -> None:
    filters = FILTERS.parse(["active:yes", "role:admin,reviewer"])
    assert filters.values == {"active": (True,), "role": (Role.admin, Role.reviewer)}
    assert " IN " in str(filters.apply(select(User)))


@pytest.mark.slow  # walks every route of the app
def test_every_sort_or_filter_parameter_of_the_app_is_allowlisted(db: Session, app: FastAPI, client: TestClient,
                                                                  world: World, callers: dict[str, Caller]) -> None:
    """Any route taking sort/filter-like parameters must use app.core.listing, and refuse a hash column."""

    def check(route: RouteInfo) -> str | None:
        names = {name: owner for name, owner in route.query_params() if name in SUSPICIOUS_QUERY}
        for name, owner in names.items():
            if getattr(owner, "__module__", "") != "app.core.listing":
                return (f"{route.key}: query parameter {name!r} is not built with app.core.listing "
                        "(Sorting/Filtering): a client-chosen column is how password hashes leak (#23)")
        for name in names:
            value = "password_hash" if name == "sort" else "password_hash:x"
            with isolated(db):
                fill = Fill(db, app, world.side(db, "a"), actor=world.user(db, "site_admin"))
                url = fill_path(route.path, fill, route.key) + f"?{name}={value}"
                response = call(client, route, url, callers["site_admin"])
            if response.status_code != 422:
                return f"{route.key}?{name}={value}: wanted 422, got {describe(response)}"
        return None

    problems = for_each(api_routes(app), check)
    assert not problems, "\n".join(problems)


def test_the_users_api_sorts_and_filters_by_allowlist(db: Session, client_for: object) -> None:
    from tests.factories import make_user

    admin = make_user(db, site_admin=True, password=None, email="zz-admin@example.com")
    make_user(db, password=None, email="aa@example.com")
    client = client_for(admin)  # type: ignore[operator]
    emails = [u["email"] for u in client.get("/api/v1/users?sort=-email").json()]
    assert emails == sorted(emails, reverse=True)
    only_admins = client.get("/api/v1/users?filter=site_admin:true").json()
    assert [u["email"] for u in only_admins] == ["zz-admin@example.com"]
    refused = client.get("/api/v1/users?sort=password_hash")
    assert refused.status_code == 422 and refused.json()["field"] == "sort"
    assert "email" in refused.json()["message"]  # names what is allowed

"""Who an import's answers are attributed to (see app/images/imports.py).

Each author named in the file (an export's email, or a bare Label Studio user id) becomes a Concord
account: the one the admin's mapping names for it, else the one with its email, else a new inactive
account without a password (it can never log in). An account a person can log in with (active, or
with a password) receives imported answers only when the admin says so: it is the target of the
mapping (or COCO's `--labeler`), or `match_existing` is set; otherwise the import is refused, naming
the field. An inactive account without a password (made by an earlier import) is matched silently:
nobody can act as it. Every author becomes an inspector of the project if not a member yet. The
report lists each account attributed to, how it was found, and each membership created.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from app.auth import service as auth_service
from app.auth.models import Membership, Role, User
from app.core.errors import Invalid

if TYPE_CHECKING:
    from app.images.imports import Context, Entry

MATCH_HINT = "pass --match-existing to attribute its answers to that account, or map it with --accounts FILE"


@dataclass(frozen=True)
class Accounts:
    """The admin's word on attribution: `mapping` source (an email in the file, or a Label Studio
    user id) -> Concord email; `match_existing` lets answers go to existing accounts by email."""

    match_existing: bool = False
    mapping: dict[str, str] = field(default_factory=dict)


def placeholder_email(user_id: int | None) -> str:
    return f"labelstudio-user-{user_id}@import.invalid"


def read_mapping(path: Path) -> dict[str, str]:
    """accounts.csv: `source,account` (source: an email in the export or a Label Studio user id;
    account: the Concord email). Raises Invalid naming the line."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
            header = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise Invalid(f"{path.name} cannot be read ({exc})", field="accounts") from None
    if not rows or not {"source", "account"} <= set(header):
        raise Invalid(f"{path.name}: needs a header `source,account` and at least one row", field="accounts")
    mapping: dict[str, str] = {}
    for n, row in enumerate(rows, start=2):
        source, account = (row.get("source") or "").strip().lower(), (row.get("account") or "").strip().lower()
        if not source or "@" not in account:
            raise Invalid(f"{path.name} line {n}: needs a source and an account email", field=f"accounts:{n}")
        if source in mapping:
            raise Invalid(f"{path.name} line {n}: {source} is mapped twice", field=f"accounts:{n}")
        mapping[source] = account
    return mapping


def authors(ctx: Context, entries: list[Entry], accounts: Accounts) -> dict[str, User]:
    """source -> the account its answers go to; adds memberships. Raises Invalid (see the module)."""
    users: dict[str, User] = {}
    members = set(ctx.db.scalars(select(Membership.user_id).where(Membership.project_id == ctx.project.id)))
    for entry in entries:
        for answer in entry.answers:
            source = answer["source"]
            if source not in users:
                users[source] = _account(ctx, answer, accounts)
                if users[source].id not in members:
                    _add_member(ctx, users[source])
                    members.add(users[source].id)
    ctx.report.accounts_unused_mappings = sorted(set(accounts.mapping) - set(users))
    return users


def _account(ctx: Context, answer: dict[str, Any], accounts: Accounts) -> User:
    source = answer["source"]
    mapped = accounts.mapping.get(source)
    email = mapped or answer["email"] or placeholder_email(answer["user_id"])
    user = auth_service.get_user_by_email(ctx.db, email)
    how = "created"
    if user is None:
        user = auth_service.create_user(
            ctx.db, email=email, display_name=answer["name"][:120], password=None, is_active=False
        )
        ctx.report.users_created.append(email)
    elif not _can_log_in(user):
        how = "matched an account made by an earlier import"
    elif mapped or answer.get("explicit"):
        how = "named by the admin"
    elif accounts.match_existing:
        how = "matched an existing account (--match-existing)"
    else:
        where = answer["where"]
        raise Invalid(f"{where}: {email} is an existing Concord account; {MATCH_HINT}", field=where)
    ctx.report.accounts.append({"source": source, "email": user.email, "user_id": user.id, "how": how})
    return user


def _can_log_in(user: User) -> bool:
    return user.is_active or user.password_hash is not None


def _add_member(ctx: Context, user: User) -> None:
    auth_service.set_membership(ctx.db, project_id=ctx.project.id, user=user, role=Role.inspector, actor=ctx.actor)
    ctx.report.memberships_created.append({"email": user.email, "user_id": user.id, "role": str(Role.inspector)})

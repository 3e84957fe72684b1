"""`concord token create | list | revoke`: API tokens for scripts, from the operator's shell."""
from __future__ import annotations

import json
from typing import Any

import typer

from app.auth import tokens
from app.cli import _common
from app.core.db import utcnow

token_app = typer.Typer(help="API tokens for scripts (sent as `Authorization: Bearer ...`).", no_args_is_help=True)


@token_app.command("create")
def create(
    email: str = typer.Option(..., help="Whose token: it acts with this user's roles"),
    name: str = typer.Option("cli", help="What the token is for (shown in lists)"),
    days: int | None = typer.Option(None, min=1, help="Lifetime in days (default 30; at most CONCORD_TOKEN_MAX_DAYS)"),
) -> None:
    """Create a token and print it once on standard output (only its hash is kept)."""
    with _common.session() as db:
        user = _common.user(db, email)
        token, raw = tokens.create_token(db, user=user, name=name, actor=None, days=days,
                                         max_days=_common.settings().token_max_days)
        db.commit()
        _common.console.print(f"token {token.id} ({token.prefix}…) for {user.email}, expires "
                              f"{token.expires_at:%Y-%m-%d %H:%M} UTC; it is shown only now")
        typer.echo(raw)


@token_app.command("list")
def list_tokens(
    email: str = typer.Option(..., help="Whose tokens"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """A user's tokens: id, name, first characters, created, last used, revoked."""
    with _common.session() as db:
        found = tokens.tokens_of(db, user_id=_common.user(db, email).id)
        rows: list[dict[str, Any]] = [
            {"id": t.id, "name": t.name, "prefix": t.prefix, "created_at": t.created_at.isoformat(),
             "expires_at": t.expires_at.isoformat(),
             "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
             "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
             "revoked_reason": t.revoked_reason} for t in found]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        expired = row["expires_at"] <= utcnow().isoformat()
        state = f"revoked {row['revoked_at'][:10]}" if row["revoked_at"] else \
            f"{'expired' if expired else 'active until'} {row['expires_at'][:10]}"
        used = (row["last_used_at"] or "never")[:16]
        typer.echo(f"{row['id']:>6}  {row['prefix']}…  {state:<23} last used {used:<16}  {row['name']}")


@token_app.command("revoke")
def revoke(token_id: int = typer.Argument(..., help="The token's id (see `concord token list`)")) -> None:
    """Revoke a token: the next request that sends it is refused."""
    with _common.session() as db:
        token = tokens.revoke_token(db, token_id=token_id, user_id=None, actor=None)
        db.commit()
        _common.console.print(f"token {token.id} ({token.prefix}…) revoked")


def register(root: typer.Typer) -> None:
    root.add_typer(token_app, name="token")

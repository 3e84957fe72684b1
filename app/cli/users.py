"""`concord user create | set-password | list`."""
from __future__ import annotations

import typer

from app.auth import service
from app.cli import _common
from app.cli._common import console, read_password_stdin, session

user_app = typer.Typer(help="People who log in.", no_args_is_help=True)


@user_app.command("create")
def create(
    email: str = typer.Option(..., help="Login email"),
    name: str = typer.Option(..., help="Display name"),
    site_admin: bool = typer.Option(False, "--site-admin", help="May create projects and users"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input"),
) -> None:
    """Create a user (without --password-stdin the account cannot log in until a password is set)."""
    password = read_password_stdin() if password_stdin else None
    with session() as db:
        user = service.create_user(db, email=email, display_name=name, password=password,
                                   is_site_admin=site_admin)
        db.commit()
        console.print(f"created user {user.email} (id {user.id})")
        typer.echo(user.id)


@user_app.command("set-password")
def set_password(
    email: str = typer.Option(..., help="Login email"),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from standard input"),
) -> None:
    """Set a user's password (the operator's reset: no email is sent; all their sessions and API tokens end)."""
    if not password_stdin:
        _common.fail("give the password on standard input with --password-stdin (never on the command line)")
    password = read_password_stdin()
    with session() as db:
        ended = service.set_password(db, user=_common.user(db, email), password=password, actor=None)
        db.commit()
        console.print(f"password of {email} set; {ended.sentence(other=False) or 'they had no session or API token'}")


@user_app.command("list")
def list_users() -> None:
    """Every account: id, email, name, site admin, active."""
    with session() as db:
        for user in service.list_users(db):
            flags = " ".join(flag for flag, on in (("site-admin", user.is_site_admin),
                                                   ("inactive", not user.is_active)) if on)
            typer.echo(f"{user.id:>6}  {user.email:<40} {user.display_name:<30} {flags}".rstrip())


def register(root: typer.Typer) -> None:
    root.add_typer(user_app, name="user")

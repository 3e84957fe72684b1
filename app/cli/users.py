"""`concord user create`."""
from __future__ import annotations

import typer

from app.auth import service
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


def register(root: typer.Typer) -> None:
    root.add_typer(user_app, name="user")

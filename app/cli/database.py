"""`concord db upgrade | current`."""
from __future__ import annotations

import typer

from app.cli._common import console, fail, settings
from app.core import migrate
from app.core.errors import ConfigError
from app.core.startup import connect

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade(revision: str = typer.Argument("head", help="Target revision")) -> None:
    """Bring the database schema up to date (creates it on an empty database)."""
    try:
        engine = connect(settings())
    except ConfigError as exc:
        fail(str(exc), code=2)
    migrate.upgrade(engine, revision)
    console.print(f"database at revision {migrate.current_revision(engine)}")
    engine.dispose()


@db_app.command("current")
def current() -> None:
    """Print the database's schema revision and the newest one."""
    try:
        engine = connect(settings())
    except ConfigError as exc:
        fail(str(exc), code=2)
    typer.echo(f"current: {migrate.current_revision(engine)}  head: {migrate.head_revision()}")
    engine.dispose()


def register(root: typer.Typer) -> None:
    root.add_typer(db_app, name="db")

"""What every CLI command shares: settings, a database session, project lookup, errors, progress."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy.orm import Session

from app.auth.models import User
from app.auth.service import get_user_by_email
from app.core.config import Settings, get_settings
from app.core.db import make_sessionmaker
from app.core.errors import ConcordError, ConfigError
from app.core.startup import check_settings, connect
from app.projects.models import Project
from app.projects.service import find_project

console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        current = get_settings()
        check_settings(current)
    except ConfigError as exc:
        fail(str(exc), code=2)
    except ValueError as exc:  # pydantic: a setting of the wrong type
        fail(f"bad setting: {exc}".splitlines()[0], code=2)
    return current


@contextmanager
def session() -> Iterator[Session]:
    """A session on the configured database; the command commits what it wants kept."""
    try:
        engine = connect(settings())
    except ConfigError as exc:
        fail(str(exc), code=2)
    try:
        with make_sessionmaker(engine)() as db:
            yield db
    except ConcordError as exc:
        fail(exc.message)
    finally:
        engine.dispose()


def project(db: Session, ref: str) -> Project:
    try:
        return find_project(db, ref)
    except ConcordError as exc:
        fail(exc.message)


def user(db: Session, email: str) -> User:
    found = get_user_by_email(db, email)
    if found is None:
        fail(f"no user with email {email}")
    return found


def progress() -> Progress:
    """A progress bar on stderr (stdout stays clean for --json output)."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=console, transient=not sys.stderr.isatty())


def read_password_stdin() -> str:
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        fail("no password on standard input")
    return password

"""Start-up checks: bad configuration stops the app with one line naming the setting."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from app.core import migrate
from app.core.config import EXAMPLE_SECRET_KEY, MIN_SECRET_KEY_LENGTH, Settings
from app.core.db import make_engine
from app.core.errors import ConfigError
from app.core.private import private_dir


def check_settings(settings: Settings) -> None:
    """Raises ConfigError for a malformed URL, a weak secret key or an unwritable data dir."""
    try:
        url = make_url(settings.database_url)
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ConfigError("CONCORD_DATABASE_URL", f"unsupported database {url.get_backend_name()!r}; "
                              "use sqlite:///path or postgresql+psycopg://user@host/db")
        url.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError) as exc:
        raise ConfigError("CONCORD_DATABASE_URL", f"not a valid database URL ({exc})") from None
    if settings.secret_key is not None:
        check_secret_key(settings.secret_key.get_secret_value())
    _check_writable(settings)


def check_secret_key(key: str) -> None:
    """Raises ConfigError for an empty, short, example or visibly non-random key (reliability #12).

    There is no "dev mode" that lets a weak key through: an unset key is generated at random once.
    """
    key = key.strip()
    if key == EXAMPLE_SECRET_KEY or len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < 10:
        raise ConfigError("CONCORD_SECRET_KEY", f"must be a random string of at least {MIN_SECRET_KEY_LENGTH} "
                          "characters (not the example value); unset it to have one generated")


def _check_writable(settings: Settings) -> None:
    try:
        private_dir(settings.data_dir)
        with tempfile.NamedTemporaryFile(dir=settings.data_dir):
            pass
    except OSError as exc:
        raise ConfigError("CONCORD_DATA_DIR", f"{settings.data_dir} is not writable ({exc.strerror})") from None
    if settings.is_sqlite:
        db_path = make_url(settings.database_url).database
        if db_path and db_path != ":memory:":
            parent = os.path.dirname(os.path.abspath(db_path))
            try:
                private_dir(Path(parent))
            except OSError as exc:
                raise ConfigError("CONCORD_DATABASE_URL", f"cannot create {parent} ({exc.strerror})") from None


def connect(settings: Settings) -> Engine:
    """An engine whose database answers; raises ConfigError naming CONCORD_DATABASE_URL otherwise."""
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ConfigError("CONCORD_DATABASE_URL", f"cannot connect to {make_url(settings.database_url)!r}: "
                          f"{reason}") from None
    return engine


def check_schema(engine: Engine) -> None:
    current, head = migrate.current_revision(engine), migrate.head_revision()
    if current != head:
        raise ConfigError("CONCORD_DATABASE_URL", f"the database schema is at {current or 'nothing'}, "
                          f"not {head}; run `concord db upgrade`")

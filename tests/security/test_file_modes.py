"""The SQLite database and the data directory are created owner-only (finding 9): the database holds
password and token hashes, and was created 0644 in a 0755 directory while media and backups were 0600."""
from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from app.core.db import make_engine
from app.main import create_app
from tests.conftest import make_test_settings


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)  # what most shells give: files 0644, folders 0755 unless asked otherwise
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_instance_keeps_its_database_and_data_to_its_owner(tmp_path: Path) -> None:
    data_dir, database = tmp_path / "new" / "var", tmp_path / "new" / "db" / "concord.db"
    app = create_app(make_test_settings(f"sqlite:///{database}", data_dir))
    with app.state.engine.begin() as connection:  # a write: the WAL and shared-memory files appear
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
        wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
        assert wal.exists() and shm.exists()
        assert (mode(wal), mode(shm)) == (0o600, 0o600)
    assert mode(database) == 0o600 and mode(database.parent) == 0o700
    assert mode(data_dir) == 0o700 and mode(app.state.settings.media_dir) == 0o700
    app.state.engine.dispose()


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    database.write_bytes(b"")
    database.chmod(0o644)
    make_engine(f"sqlite:///{database}").dispose()
    assert mode(database) == 0o600

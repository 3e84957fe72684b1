"""Files and folders only their owner may read: the data directory, the media root and the SQLite
database (it holds password and token hashes), as media, exports, backups and the secret key already
are. Created owner-only (0700 folders, 0600 files); an existing SQLite file
that others can read, and that belongs to us, is tightened at start-up, with its WAL and shared-memory
files (SQLite gives those the database file's permissions when it creates them).
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

FOLDER_MODE, FILE_MODE = 0o700, 0o600


def private_dir(path: Path) -> Path:
    """`path` as a folder; created owner-only when missing (its missing parents too)."""
    if not path.exists():
        for missing in reversed([path, *(p for p in path.parents if not p.exists())]):
            missing.mkdir(mode=FOLDER_MODE, exist_ok=True)
    return path


def private_sqlite_file(url: str) -> None:
    """Create the SQLite file of `url` owner-only (or tighten it); nothing for memory or Postgres URLs."""
    if not url.startswith("sqlite"):
        return
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    private_dir(path.parent)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        _tighten(file)


def _tighten(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, stat.S_IMODE(info.st_mode) & FOLDER_MODE)

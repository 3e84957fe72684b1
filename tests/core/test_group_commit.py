"""SQLite group commit (app/core/group_commit.py): a commit that wrote waits for an fsync of the WAL,
one fsync serves the commits that finished before it, a read never waits. That an acknowledged commit
survives a power cut is tested in tests/reliability/test_power_loss.py."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from app.core import group_commit
from app.core.db import make_engine


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Start times of the WAL fsyncs, each made to take 20 ms (a slow disk)."""
    started: list[float] = []
    real = os.fdatasync

    def slow(fd: int) -> None:
        started.append(time.monotonic())
        time.sleep(0.02)
        real(fd)

    monkeypatch.setattr(group_commit.os, "fdatasync", slow)
    return started


def test_a_write_waits_for_an_fsync_and_a_read_does_not(tmp_path: Path, fsyncs: list[float]) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}")
    try:
        with engine.begin() as connection:
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL: the WAL sync is ours
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
        assert len(fsyncs) == 1
        before = time.monotonic()
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
        assert len(fsyncs) == 2 and fsyncs[-1] >= before  # the fsync began after this commit's write
        with engine.begin() as connection:
            connection.execute(text("SELECT count(*) FROM t")).scalar()
        assert len(fsyncs) == 2  # a read commits without waiting for the disk
    finally:
        engine.dispose()


def test_one_fsync_acknowledges_many_commits(tmp_path: Path, fsyncs: list[float]) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'g.db'}", pool_size=8)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    done: list[float] = []

    def writer(n: int) -> None:
        for i in range(20):
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO t VALUES (:x)"), {"x": n * 100 + i})
            done.append(time.monotonic())

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    try:
        count_before = len(fsyncs)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 160
    finally:
        engine.dispose()
    used = len(fsyncs) - count_before
    assert 0 < used <= 160 / 2  # the eight writers shared their fsyncs (a 20 ms disk: ~1 in 8 commits)

"""The SQLite fair write queue (app/core/db_guards.py): arrival order, and no turn ever lost."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from sqlalchemy import text

from app.core.db import make_engine
from app.core.db_guards import FairLock


def test_waiters_enter_in_the_order_they_arrived() -> None:
    lock = FairLock()
    assert lock.acquire(timeout=1)
    entered: list[int] = []

    def wait(n: int) -> None:
        assert lock.acquire(timeout=10)
        entered.append(n)
        lock.release()

    threads = []
    for n in range(8):
        threads.append(threading.Thread(target=wait, args=(n,)))
        threads[-1].start()
        time.sleep(0.02)  # so that thread n is queued before thread n + 1
    lock.release()
    for thread in threads:
        thread.join()
    assert entered == list(range(8))


def test_a_waiter_that_gives_up_does_not_block_the_ones_behind_it() -> None:
    lock = FairLock()
    assert lock.acquire(timeout=1)
    assert not lock.acquire(timeout=0.05)  # queued, then gave up
    lock.release()
    assert lock.acquire(timeout=1)  # the abandoned turn was skipped


def test_an_invalidated_connection_hands_its_turn_on(tmp_path: Path) -> None:
    # A connection that dies mid-transaction (a timeout, a crash in a statement) must not keep the
    # turn: every later writer in the process would wait for the queue timeout and fail.
    engine = make_engine(f"sqlite:///{tmp_path / 'q.db'}")
    with engine.connect() as first:
        first.begin()
        first.execute(text("CREATE TABLE t (x INTEGER)"))
        first.invalidate()
        first.rollback()
    with engine.begin() as second:
        second.execute(text("CREATE TABLE u (x INTEGER)"))
    with engine.connect() as third:
        tables = set(third.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars())
    engine.dispose()
    assert "u" in tables


def test_a_connection_returned_to_the_pool_mid_transaction_hands_its_turn_on(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'q.db'}")
    first = engine.connect()
    first.begin()
    first.execute(text("CREATE TABLE t (x INTEGER)"))
    first.close()  # neither COMMIT nor ROLLBACK from us: the pool resets it
    with engine.begin() as second:
        second.execute(text("CREATE TABLE u (x INTEGER)"))
    with engine.connect() as third:
        tables = set(third.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars())
    engine.dispose()
    assert "u" in tables

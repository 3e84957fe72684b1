"""Group commit on SQLite: many commits made durable by one fsync, none acknowledged before it.

With `synchronous=FULL`, SQLite fsyncs the WAL inside every COMMIT, while the committing connection
still holds the database's only write lock: each writer waits for the disk, and every other writer
waits for it. We run `synchronous=NORMAL` instead (a COMMIT writes its WAL frames and returns; SQLite
still syncs the WAL before each checkpoint and the header of each new WAL) and make every commit that
wrote something durable ourselves before it returns to its caller, after the lock is released:

- the committing thread takes a ticket and waits until an fsync of the WAL file that *started after
  its COMMIT returned* has completed;
- the first waiter to find no fsync running becomes the leader and runs it; every commit that
  finished before that fsync began is covered by it, so its followers return together (one fsync,
  many commits); commits that finish meanwhile wait for the next round, led by one of them.

So `Session.commit()` (and every other commit on the engine) returns only once the transaction is on
disk: an acknowledged label survives a power loss exactly as with FULL (tests/reliability/
test_power_loss.py cuts the power, in simulation, under load). A transaction that wrote nothing (a
read) does not wait. An fsync that fails raises OperationalError in every commit it was to cover:
those transactions may or may not survive a crash, and their requests are not acknowledged (the
client retries with its idempotency key).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

# Connection info flag: a statement that may write ran since the last commit (a rolled-back write leaves
# it set: the next commit then syncs once for nothing, which is harmless).
WROTE = "concord_wrote"
_READS = ("SELECT", "PRAGMA", "BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "EXPLAIN")


class WalSync:
    """Leader/follower fsync of one SQLite database's WAL file (one per engine)."""

    def __init__(self, database: Path) -> None:
        self.wal = database.with_name(database.name + "-wal")
        self._cond = threading.Condition()
        self._requested = 0  # tickets handed out: commits waiting or done
        self._synced = 0  # every ticket up to this one is durable
        self._syncing = False
        self._inode: int | None = None
        self.fsyncs = 0  # for tests and benches: fsyncs run, against commits covered (`_synced`)

    @property
    def commits(self) -> int:
        return self._synced

    def wait_durable(self) -> None:
        """Return once an fsync that began after this call has covered the WAL."""
        with self._cond:
            self._requested += 1
            ticket = self._requested
            while self._synced < ticket:
                if self._syncing:
                    self._cond.wait()
                    continue
                self._syncing, target = True, self._requested
                try:
                    self._cond.release()
                    try:
                        self._fsync()
                    finally:
                        self._cond.acquire()
                    self._synced = max(self._synced, target)
                    self.fsyncs += 1
                finally:
                    self._syncing = False
                    self._cond.notify_all()

    def _fsync(self) -> None:
        try:
            fd = os.open(self.wal, os.O_RDONLY)
        except FileNotFoundError:
            return  # the last connection checkpointed (synced) the WAL into the database and removed it
        try:
            os.fdatasync(fd)
            inode = os.fstat(fd).st_ino
            if inode != self._inode:  # a new WAL file: its directory entry must be on disk too
                _fsync_directory(self.wal.parent)
                self._inode = inode
        except OSError as exc:
            raise OperationalError("COMMIT", {}, Exception(f"the database could not be synced to disk: {exc}")) from exc
        finally:
            os.close(fd)


def _fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def add_group_commit(engine: Engine, database: Path) -> WalSync:
    """Make every commit of this SQLite engine (PRAGMA synchronous=NORMAL) durable before it returns,
    one fsync for all the commits that finished meanwhile (see the module docstring)."""
    sync = WalSync(database)
    dialect = engine.dialect
    commit = dialect.do_commit

    def note_write(connection: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if not statement.lstrip()[:9].upper().startswith(_READS):
            connection.info[WROTE] = True

    def durable_commit(dbapi_proxy: Any) -> None:
        commit(dbapi_proxy)
        info = getattr(dbapi_proxy, "info", None)
        if info is None or info.pop(WROTE, False):
            sync.wait_durable()

    event.listen(engine, "before_cursor_execute", note_write)
    dialect.do_commit = durable_commit  # type: ignore[method-assign,assignment]
    return sync

"""Two guards on database connections that the drivers do not give us.

Deadline (Postgres): libpq has no client-side read timeout, and a server-side statement_timeout never
fires when the network swallows the query (a blackholed link: the peer's kernel keeps ACKing). A
watchdog thread therefore shuts down the socket of any call that outlives its deadline; psycopg then
raises OperationalError, SQLAlchemy invalidates the connection, and the request answers 503.

Fair write queue (SQLite): every transaction starts with BEGIN IMMEDIATE (see db.py). Writers that
find the lock taken sleep in sqlite3's busy handler with growing back-off, which is unfair: under 16
concurrent labelers some wait seconds while others go straight in. Within one process, a FIFO ticket
lock taken before BEGIN and released after COMMIT/ROLLBACK lets them in in arrival order instead.
Other processes on the same file still meet the busy timeout.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

log = logging.getLogger("concord.db")


class Watchdog:
    """Shuts down the socket of a database call still running past its deadline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[int, int] = {}  # token -> socket fd, while the call runs
        self._killed: set[int] = set()
        self._order: list[tuple[float, int]] = []
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def guard(self, call: Callable[..., Any], connection_of: Callable[..., Any], seconds: float) -> Callable[..., Any]:
        def watched(*args: Any, **kwargs: Any) -> Any:
            fd = _socket_fd(connection_of(*args))
            if fd is None:
                return call(*args, **kwargs)
            token = self._start(fd, seconds)
            try:
                return call(*args, **kwargs)
            except Exception as exc:
                if self._was_killed(token) and not _is_disconnect(exc):
                    # Make sure SQLAlchemy sees a disconnect, so it drops this connection and
                    # (for a ping) dials a fresh one instead of failing on a half-read socket.
                    raise _disconnect_error(seconds) from exc
                raise
            finally:
                with self._lock:
                    self._calls.pop(token, None)
                    self._killed.discard(token)

        return watched

    def _start(self, fd: int, seconds: float) -> int:
        token = next(self._tokens)
        with self._lock:
            self._calls[token] = fd
            heapq.heappush(self._order, (time.monotonic() + seconds, token))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="db-deadline", daemon=True)
                self._thread.start()
        return token

    def _was_killed(self, token: int) -> bool:
        with self._lock:
            return token in self._killed

    def _run(self) -> None:
        while True:
            time.sleep(0.2)
            now = time.monotonic()
            overdue = []
            with self._lock:
                while self._order and self._order[0][0] <= now:
                    _deadline, token = heapq.heappop(self._order)
                    fd = self._calls.get(token)
                    if fd is not None:
                        self._killed.add(token)
                        overdue.append(fd)
            for fd in overdue:
                log.error("a database call passed its deadline; dropping its connection")
                try:
                    sock = socket.socket(fileno=fd)
                    sock.shutdown(socket.SHUT_RDWR)
                    sock.detach()  # the driver owns the descriptor and closes it itself
                except OSError:
                    pass


def _socket_fd(dbapi_connection: Any) -> int | None:
    pgconn = getattr(dbapi_connection, "pgconn", None)
    try:
        return int(pgconn.socket) if pgconn is not None else None
    except Exception:  # closed or broken: nothing to watch
        return None


def _is_disconnect(exc: Exception) -> bool:
    return isinstance(exc, psycopg.OperationalError)


def _disconnect_error(seconds: float) -> Exception:
    return psycopg.OperationalError(f"server closed the connection unexpectedly (no answer within {seconds:g} s)")


def add_deadline(engine: Engine, seconds: float, ping_seconds: float = 2.0) -> None:
    """Every execute, commit and rollback of this Postgres engine must finish within `seconds`, and the
    pool's liveness ping within `ping_seconds` (after which a fresh connection is dialled)."""
    dialect = engine.dialect
    watchdog = Watchdog()
    by_cursor = lambda cursor, *rest: cursor.connection  # noqa: E731
    by_connection = lambda connection, *rest: connection  # noqa: E731
    for name, connection_of, limit in (
        ("do_execute", by_cursor, seconds), ("do_executemany", by_cursor, seconds),
        ("do_execute_no_params", by_cursor, seconds), ("do_commit", by_connection, seconds),
        ("do_rollback", by_connection, seconds), ("do_ping", by_connection, ping_seconds),
    ):
        setattr(dialect, name, watchdog.guard(getattr(dialect, name), connection_of, limit))


class FairLock:
    """A FIFO lock: waiters enter in the order they arrived (threading.Lock promises no order)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0
        self._abandoned: set[int] = set()

    def acquire(self, timeout: float) -> bool:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            if self._cond.wait_for(lambda: self._serving == ticket, timeout=timeout):
                return True
            self._abandoned.add(ticket)  # gave up: our turn is skipped when it comes
            self._advance()
            return False

    def release(self) -> None:
        with self._cond:
            self._serving += 1
            self._advance()

    def _advance(self) -> None:
        while self._serving in self._abandoned:
            self._abandoned.discard(self._serving)
            self._serving += 1
        self._cond.notify_all()


def add_fair_write_queue(engine: Engine, timeout: float) -> None:
    """Let this SQLite engine's transactions begin in arrival order (see the module docstring).

    The turn is taken on BEGIN and handed on at COMMIT/ROLLBACK (the events fire just before the
    driver call: the next writer's BEGIN IMMEDIATE then waits those few microseconds in SQLite's busy
    handler), or when the connection goes back to the pool without either.
    """
    lock = FairLock()
    holders: dict[int, int] = {}  # id(Connection) -> id(DBAPI connection), for transactions holding the turn
    guard = threading.Lock()

    def take(connection: Any) -> None:
        if connection.get_execution_options().get("concord_read_only"):
            return  # a WAL reader (db.read_only_session) takes no turn: it never writes
        if not lock.acquire(timeout):
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is busy: the write queue timed out"))
        with guard:
            holders[id(connection)] = id(connection.connection.dbapi_connection)

    def hand_on(connection: Any) -> None:
        # keyed by the Connection, not its DBAPI connection: an invalidated connection (a timeout or a
        # crash mid-statement) can no longer name the latter, and its turn must still be handed on
        with guard:
            held = holders.pop(id(connection), None) is not None
        if held:
            lock.release()

    def hand_on_checkin(dbapi_connection: Any, _record: Any) -> None:
        with guard:
            owners = [key for key, value in holders.items() if value == id(dbapi_connection)]
            for key in owners:
                del holders[key]
        if owners:
            lock.release()

    event.listen(engine, "begin", take)
    event.listen(engine, "commit", hand_on)
    event.listen(engine, "rollback", hand_on)
    event.listen(engine.pool, "checkin", hand_on_checkin)

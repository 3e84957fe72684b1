"""Login throttling, held in the database so that it holds across app processes and restarts.

Failures are counted per account (the email typed, whether or not it exists, so the answer never
tells) and per client address, within `login_window_minutes`:
- below half the limit, tries are free;
- from half the limit, each further try must wait 1, 2, 4, ... seconds after the last failure;
- at the limit, the key is locked until its oldest counted failure leaves the window.
An address gets twice the account limit (a factory floor shares one address). A success clears the
account's count, not the address's (one valid account must not launder an attacker's address).
A refused try is not counted and costs no password hash, so hammering a lock does not extend it.

A try from a known device of the account (app.auth.devices: a browser that logged in to it before)
is judged and counted on the device's own key, with the account's limit, instead of the account's
and the address's: strangers' guesses cannot lock the owner out of the browsers they use, and the
owner's typos on them do not add to the account's or the address's count.

Tries of one account or from one address are serialized (`check` takes a transaction lock per key
that the caller's commit releases): without it, a burst of parallel tries would all pass the check
before the first failure is recorded. SQLite's transactions already run one at a time; Postgres gets
advisory locks. Attempts older than any window count for nothing and are pruned every PRUNE_EVERY
attempts (guessed emails from many addresses are keyed by nothing a success would clear).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from app.auth.models import LoginAttempt
from app.core.config import Settings
from app.core.db import utcnow

ADDRESS_FACTOR = 2
MAX_DELAY = timedelta(minutes=5)
RETENTION = timedelta(days=1)
PRUNE_EVERY = 1000
_ACCOUNT_LOCK, _ADDRESS_LOCK, _DEVICE_LOCK = 0x1061, 0x1062, 0x1063  # advisory lock namespaces (two-int form)


@dataclass(frozen=True)
class Verdict:
    retry_after: int  # whole seconds to wait; 0: the try may go ahead
    locked: bool = False

    @property
    def allowed(self) -> bool:
        return self.retry_after <= 0

    def message(self) -> str:
        if self.locked:
            minutes = max(1, -(-self.retry_after // 60))
            return (f"Too many failed logins for this account or from this address. Try again in {minutes} "
                    f"minute{'s' if minutes != 1 else ''}.")
        return f"Too many failed logins. Wait {self.retry_after} second{'s' if self.retry_after != 1 else ''} " \
               "and try again."


def check(db: Session, *, email: str, ip: str, settings: Settings, device: str | None = None) -> Verdict:
    """Whether a login try for `email` from `ip` (from a known `device` of the account, if given) may
    go ahead now. Holds the keys' turn until the caller's transaction ends: record the try in the same
    transaction."""
    now = utcnow()
    window = timedelta(minutes=settings.login_window_minutes)
    limit = settings.login_max_failures
    if device is not None:
        _lock(db, ((_DEVICE_LOCK, device),))
        return _verdict(db, LoginAttempt.device == device, limit, now, window, None)
    _lock(db, ((_ACCOUNT_LOCK, email), (_ADDRESS_LOCK, ip)))  # always this order: no deadlock
    since_success = _last_success(db, email, now - window)
    stranger = LoginAttempt.device.is_(None)
    account = _verdict(db, (LoginAttempt.email == email) & stranger, limit, now, window, since_success)
    address = _verdict(db, (LoginAttempt.ip == ip) & stranger, limit * ADDRESS_FACTOR, now, window, None)
    return max(account, address, key=lambda v: (v.locked, v.retry_after))


def record(db: Session, *, email: str, ip: str, succeeded: bool, settings: Settings,
           device: str | None = None) -> None:
    attempt = LoginAttempt(email=email[:254], ip=ip[:64], succeeded=succeeded, created_at=utcnow(),
                           device=device)
    db.add(attempt)
    db.flush()
    keep = max(RETENTION, timedelta(minutes=settings.login_window_minutes))
    if succeeded:  # keep the account's history short; the address's stays for its own count
        db.execute(delete(LoginAttempt).where(LoginAttempt.email == email, LoginAttempt.created_at < utcnow() - keep))
    if attempt.id % PRUNE_EVERY == 0:
        db.execute(delete(LoginAttempt).where(LoginAttempt.created_at < utcnow() - keep))


def _lock(db: Session, keys: tuple[tuple[int, str], ...]) -> None:
    if db.get_bind().dialect.name != "postgresql":
        return  # SQLite: BEGIN IMMEDIATE already runs one transaction at a time
    for namespace, key in keys:
        db.execute(text("SELECT pg_advisory_xact_lock(:namespace, hashtext(:key))"),
                   {"namespace": namespace, "key": key})


def _last_success(db: Session, email: str, floor: datetime) -> datetime | None:
    return db.scalar(select(func.max(LoginAttempt.created_at)).where(
        LoginAttempt.email == email, LoginAttempt.succeeded.is_(True), LoginAttempt.created_at > floor))


def _verdict(db: Session, key: ColumnElement[bool], limit: int, now: datetime, window: timedelta,
             since: datetime | None) -> Verdict:
    floor = max(now - window, since) if since is not None else now - window
    failures = db.scalars(
        select(LoginAttempt.created_at)
        .where(key, LoginAttempt.succeeded.is_(False), LoginAttempt.created_at > floor)
        .order_by(LoginAttempt.created_at.desc())
        .limit(limit)
    ).all()
    count = len(failures)
    if count >= limit:
        return Verdict(_seconds(failures[limit - 1] + window - now), locked=True)
    free = max(1, limit // 2)
    if count >= free:
        delay = min(timedelta(seconds=2 ** (count - free)), MAX_DELAY)
        return Verdict(_seconds(failures[0] + delay - now))
    return Verdict(0)


def _seconds(delta: timedelta) -> int:
    return max(0, math.ceil(delta.total_seconds()))  # rounded up: never invite a try that is refused

"""The login throttle under a burst of parallel tries, and its table kept short."""
from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth import throttle
from app.auth.models import LoginAttempt
from app.core.config import Settings
from app.core.db import make_sessionmaker, utcnow
from tests.factories import make_user
from tests.support.databases import fresh_database

SETTINGS = Settings()
BURST = 24


def _burst(engine: Engine, email: str, ip: str) -> list[str]:
    """BURST wrong-password logins at once, each in its own session as requests are; their outcomes."""
    start = threading.Barrier(BURST)
    outcomes: list[str] = []

    def attempt() -> None:
        with make_sessionmaker(engine)() as db:
            start.wait()
            try:
                auth_service.login(db, email=email, password="not the password", ip=ip, settings=SETTINGS)
                outcomes.append("checked")
            except auth_service.ThrottledLogin:
                outcomes.append("throttled")
            db.commit()

    threads = [threading.Thread(target=attempt) for _ in range(BURST)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_burst_of_parallel_tries_gets_no_more_password_checks_than_one_after_another(kind: str,
                                                                                         tmp_path: Path) -> None:
    with fresh_database(kind, tmp_path) as engine:
        with make_sessionmaker(engine)() as db:
            user = make_user(db, email="target@example.com")
            db.commit()
        outcomes = _burst(engine, user.email, "10.0.0.1")
        with make_sessionmaker(engine)() as db:
            failures = db.scalar(select(func.count()).select_from(LoginAttempt).where(
                LoginAttempt.email == user.email, LoginAttempt.succeeded.is_(False)))
        # One after another, the first half of the limit go free and the next must wait a second after
        # the one before: a burst that all passed the check at once would record every one of its tries.
        free = SETTINGS.login_max_failures // 2
        assert outcomes.count("checked") == failures
        assert free <= failures <= free + 1, outcomes
        assert len(outcomes) == BURST


def test_attempts_older_than_any_window_are_pruned(db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle, "PRUNE_EVERY", 1)
    old = utcnow() - throttle.RETENTION - timedelta(minutes=1)
    db.add_all([LoginAttempt(email=f"guess{i}@example.com", ip=f"10.1.0.{i}", succeeded=False, created_at=old)
                for i in range(5)])
    db.add(LoginAttempt(email="recent@example.com", ip="10.2.0.1", succeeded=False, created_at=utcnow()))
    db.flush()
    throttle.record(db, email="now@example.com", ip="10.3.0.1", succeeded=False, settings=SETTINGS)
    left = set(db.scalars(select(LoginAttempt.email)))
    assert left == {"recent@example.com", "now@example.com"}


def test_attempts_inside_a_long_window_are_kept(db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle, "PRUNE_EVERY", 1)
    long_window = Settings(login_window_minutes=3 * 24 * 60)
    two_days_ago = utcnow() - timedelta(days=2)
    db.add(LoginAttempt(email="slow@example.com", ip="10.4.0.1", succeeded=False, created_at=two_days_ago))
    db.flush()
    throttle.record(db, email="now@example.com", ip="10.3.0.1", succeeded=False, settings=long_window)
    assert "slow@example.com" in set(db.scalars(select(LoginAttempt.email)))

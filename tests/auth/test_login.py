"""Logging in: the same answer for unknown accounts and wrong passwords (#14), throttling held in the
database (slow down, then lock), safe redirects after login (#15), audit events."""
from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import throttle
from app.auth.models import LoginAttempt
from app.auth.views import LOGIN_FAILED, safe_next
from app.core.audit import AuditEvent
from app.core.config import Settings
from app.core.db import utcnow
from tests.auth.helpers import form_login, session_cookie
from tests.factories import PASSWORD, make_user

MAX = Settings().login_max_failures  # 10 by default: 5 free tries, then 1, 2, 4, 8 s waits, then locked


def _age_attempts(db: Session, seconds: float) -> None:
    """Move every recorded attempt into the past (time passing, without sleeping)."""
    for attempt in db.scalars(select(LoginAttempt)):
        attempt.created_at -= timedelta(seconds=seconds)
    db.flush()


def _fail(anon: TestClient, email: str, times: int) -> None:
    for _ in range(times):
        response = form_login(anon, email, "not the password")
        assert response.status_code == 401, response.text


def test_a_good_login_sets_a_session_and_goes_to_next(db: Session, anon: TestClient) -> None:
    user = make_user(db)
    response = form_login(anon, user.email.upper(), PASSWORD, next="/account")
    assert response.status_code == 303 and response.headers["location"] == "/account"
    assert session_cookie(anon)
    assert anon.get("/api/v1/me").json()["email"] == user.email


def test_unknown_account_and_wrong_password_get_the_same_answer(db: Session, anon: TestClient) -> None:
    make_user(db, email="known@example.com")
    known = form_login(anon, "known@example.com", "wrong password!")
    unknown = form_login(anon, "unknown@example.com", "wrong password!")
    assert known.status_code == unknown.status_code == 401
    assert LOGIN_FAILED in known.text and LOGIN_FAILED in unknown.text
    assert known.text.replace("known@", "X") == unknown.text.replace("unknown@", "X")


def test_an_inactive_account_gets_the_same_answer(db: Session, anon: TestClient) -> None:
    user = make_user(db)
    user.is_active = False
    db.flush()
    response = form_login(anon, user.email, PASSWORD)
    assert response.status_code == 401 and LOGIN_FAILED in response.text


def test_repeated_failures_slow_down_then_lock_and_the_lock_expires(db: Session, anon: TestClient) -> None:
    user = make_user(db)
    free = MAX // 2
    for _ in range(free):
        assert form_login(anon, user.email, "nope nope nope").status_code == 401
    slowed = form_login(anon, user.email, "nope nope nope")
    assert slowed.status_code == 429 and int(slowed.headers["retry-after"]) == 1
    assert "Wait 1 second" in slowed.text
    for _ in range(MAX - free):  # each try after its wait (the waits double: 1, 2, 4, 8, 16 s)
        _age_attempts(db, 20)
        assert form_login(anon, user.email, "nope nope nope").status_code == 401
    locked = form_login(anon, user.email, PASSWORD)  # even the right password, while locked
    assert locked.status_code == 429
    assert "Too many failed logins for this account or from this address" in locked.text
    assert int(locked.headers["retry-after"]) > 60
    _age_attempts(db, Settings().login_window_minutes * 60 + 1)
    assert form_login(anon, user.email, PASSWORD).status_code == 303


def test_twenty_failures_get_429_whether_or_not_the_account_exists(db: Session, anon: TestClient) -> None:
    make_user(db, email="real@example.com")
    answers = {}
    for email in ("real@example.com", "ghost@example.com"):
        statuses = []
        for _ in range(20):
            statuses.append(form_login(anon, email, "wrong wrong wrong").status_code)
            _age_attempts(db, 20)  # a patient attacker: each try after the slow-down wait
        answers[email] = statuses
        db.execute(LoginAttempt.__table__.delete())  # the other email starts afresh (and the address too)
    assert answers["real@example.com"] == answers["ghost@example.com"]
    assert answers["real@example.com"][-1] == 429


def test_hammering_a_lock_does_not_extend_it(db: Session, anon: TestClient) -> None:
    user = make_user(db)
    db.add_all([LoginAttempt(email=user.email, ip="elsewhere", succeeded=False) for _ in range(MAX)])
    db.flush()
    for _ in range(5):
        assert form_login(anon, user.email, PASSWORD).status_code == 429
    assert db.query(LoginAttempt).filter_by(email=user.email).count() == MAX  # refused tries are not counted
    _age_attempts(db, Settings().login_window_minutes * 60 + 1)
    assert form_login(anon, user.email, PASSWORD).status_code == 303


def test_one_address_trying_many_accounts_is_locked(db: Session, anon: TestClient) -> None:
    db.add_all([LoginAttempt(email=f"victim{i}@example.com", ip="testclient", succeeded=False)
                for i in range(2 * MAX)])
    db.flush()
    response = form_login(anon, "fresh@example.com", "whatever it is")
    assert response.status_code == 429


def test_a_success_clears_the_account_count_but_not_the_address(db: Session, anon: TestClient) -> None:
    user = make_user(db)
    _fail(anon, user.email, MAX // 2 - 1)
    assert form_login(anon, user.email, PASSWORD).status_code == 303
    verdict = throttle.check(db, email=user.email, ip="elsewhere", settings=Settings())
    assert verdict.allowed
    assert db.query(LoginAttempt).filter_by(ip="testclient", succeeded=False).count() == MAX // 2 - 1


def test_logins_failures_and_throttling_are_audited(db: Session, anon: TestClient) -> None:
    user = make_user(db)
    form_login(anon, user.email, "wrong wrong wrong")
    form_login(anon, "typed-a-password-here", "x")
    form_login(anon, user.email, PASSWORD)
    db.add_all([LoginAttempt(email="ghost@example.com", ip="x", succeeded=False) for _ in range(MAX)])
    db.flush()
    form_login(anon, "ghost@example.com", "x")
    events = db.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    actions = [(e.action, e.actor_id, e.data.get("email")) for e in events if e.action.startswith("login")]
    assert actions == [("login.failed", user.id, user.email), ("login.failed", None, "(not an address)"),
                       ("login", user.id, None), ("login.throttled", None, "ghost@example.com")]
    assert all(e.ip == "testclient" for e in events if e.action.startswith("login"))


def test_the_throttle_survives_a_restart_because_it_lives_in_the_database(db: Session) -> None:
    db.add_all([LoginAttempt(email="a@example.com", ip="1.2.3.4", succeeded=False, created_at=utcnow())
                for _ in range(MAX)])
    db.flush()
    verdict = throttle.check(db, email="a@example.com", ip="5.6.7.8", settings=Settings())
    assert verdict.locked and not verdict.allowed


@pytest.mark.parametrize("target", [
    "//evil.com", "https://evil.com", "http://evil.com/", "/\\evil.com", "\\\\evil.com", "javascript:alert(1)",
    "/\t/evil.com", "/\n/evil.com", "//evil.com/%2F..", "https:evil.com", "", "evil.com", "/%09/evil.com\x00",
    " //evil.com", "/" + "a" * 3000,
])
def test_next_never_leaves_the_site(target: str) -> None:
    assert safe_next(target) == "/" or (safe_next(target).startswith("/") and "evil" not in safe_next(target)[:3])
    assert not safe_next(target).startswith(("//", "/\\"))


@pytest.mark.parametrize("target", ["/projects/3?tab=members", "/account", "/projects/1/review#conflict-2"])
def test_next_keeps_local_paths(target: str) -> None:
    assert safe_next(target) == target


@pytest.mark.parametrize("target", ["//evil.com", "https://evil.com", "/\\evil.com", "javascript:alert(1)"])
def test_open_redirects_through_login_go_home(db: Session, anon: TestClient, target: str) -> None:
    user = make_user(db)
    assert 'name="next" value="/"' in anon.get("/login", params={"next": target}).text
    response = form_login(anon, user.email, PASSWORD, next=target)
    assert response.status_code == 303 and response.headers["location"] == "/"

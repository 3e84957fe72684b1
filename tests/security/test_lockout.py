"""Lockout cannot be used to lock a person out (finding 8): wrong guesses from elsewhere throttle the account
for strangers, while its owner still logs in from a browser that logged in to it before (a known device,
app/auth/devices.py). A new browser, another account's device cookie or a forged one get the lock."""
from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import devices
from app.auth.models import LoginAttempt, User
from app.core.db import utcnow
from tests.auth.helpers import form_login
from tests.factories import PASSWORD, make_user

ATTACKER = "203.0.113.66"


def _browser(app: FastAPI, address: str) -> TestClient:
    return TestClient(app, base_url="http://testserver", client=(address, 40000))


def _guessed_wrong(db: Session, user: User, times: int) -> None:
    """A stranger's wrong passwords, as the login form records them."""
    db.add_all(LoginAttempt(email=user.email, ip=ATTACKER, succeeded=False, created_at=utcnow())
               for _ in range(times))
    db.flush()


def test_the_owner_logs_in_from_a_known_browser_while_strangers_are_locked_out(db: Session, app: FastAPI,
                                                                               anon: TestClient) -> None:
    victim, other = make_user(db), make_user(db)
    own_browser = _browser(app, "192.0.2.10")
    first = form_login(own_browser, victim.email, PASSWORD)
    assert first.status_code == 303 and own_browser.cookies.get(devices.COOKIE)
    other_browser = _browser(app, "192.0.2.11")
    assert form_login(other_browser, other.email, PASSWORD).status_code == 303  # a device of another account
    _guessed_wrong(db, victim, app.state.settings.login_max_failures)

    assert form_login(_browser(app, ATTACKER), victim.email, "a wrong guess 123").status_code == 429
    assert form_login(_browser(app, "192.0.2.12"), victim.email, PASSWORD).status_code == 429  # a new browser
    assert form_login(other_browser, victim.email, PASSWORD).status_code == 429  # another account's device
    forged = _browser(app, "192.0.2.13")
    forged.cookies.set(devices.COOKIE, "eyJ1Ijo1fQ.forged.signature", path="/login")
    assert form_login(forged, victim.email, PASSWORD).status_code == 429

    assert form_login(own_browser, victim.email, "my own typo 1234").status_code == 401  # counted on the device
    again = form_login(own_browser, victim.email, PASSWORD)
    assert again.status_code == 303, again.text  # the owner is not locked out
    typo = db.scalar(select(LoginAttempt).where(LoginAttempt.email == victim.email, LoginAttempt.ip == "192.0.2.10",
                                                LoginAttempt.succeeded.is_(False)))
    assert typo is not None and typo.device is not None


def test_a_known_device_that_keeps_guessing_is_throttled_on_its_own(db: Session, app: FastAPI,
                                                                   anon: TestClient) -> None:
    victim = make_user(db)
    browser = _browser(app, "192.0.2.20")
    assert form_login(browser, victim.email, PASSWORD).status_code == 303
    device = devices.claim(app.state.secret_key, browser.cookies.get(devices.COOKIE))
    assert device is not None and device[0] == victim.id
    db.add_all(LoginAttempt(email=victim.email, ip="192.0.2.20", succeeded=False, created_at=utcnow(),
                            device=device[1]) for _ in range(app.state.settings.login_max_failures))
    db.flush()
    assert form_login(browser, victim.email, PASSWORD).status_code == 429
    assert form_login(_browser(app, "192.0.2.21"), victim.email, PASSWORD).status_code == 303  # others unaffected

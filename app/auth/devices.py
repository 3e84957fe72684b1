"""Known devices: a browser that has logged in to an account carries a signed cookie naming that account
and a random device id (itsdangerous, a salt of its own, a year's life; sent only to /login).

Lockout cannot be used to lock a person out: while wrong guesses from elsewhere
have the account (or an address) throttled, a try from one of the account's known devices is counted
on that device's own key instead (app.auth.throttle), so its owner still logs in from the browsers they
use. Anyone else, a new browser of the owner's included, meets the account and address throttles. The
cookie grants nothing by itself: the password is still checked, and a device that guesses wrong is
throttled like an account.
"""
from __future__ import annotations

import secrets
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer

COOKIE = "concord_device"
MAX_AGE_SECONDS = 365 * 24 * 3600
PATH = "/login"
SALT = "concord.device"


def _signer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def issue(secret_key: str, *, user_id: int) -> str:
    """A fresh device cookie for the account that just logged in."""
    return _signer(secret_key).dumps({"u": user_id, "d": secrets.token_hex(12)})


def claim(secret_key: str, cookie: str | None) -> tuple[int, str] | None:
    """(account id, device id) of a genuine, unexpired cookie; None for anything else."""
    if not cookie:
        return None
    try:
        data: Any = _signer(secret_key).loads(cookie, max_age=MAX_AGE_SECONDS)
    except BadData:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int) or not isinstance(data.get("d"), str):
        return None
    return data["u"], data["d"][:32]

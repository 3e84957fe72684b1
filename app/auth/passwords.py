"""The password policy: long enough, not the person's email or name, not easy to guess.

"Easy to guess" is zxcvbn's estimate (Dropbox's estimator, as a maintained library): it knows the
most common passwords of public breaches, dictionary words, names, dates, keyboard walks, repeats
and sequences, and counts the guesses an attacker needs. MIN_SCORE 3 means more than 10^8 guesses
(zxcvbn's "safely unguessable: moderate protection"), which `aaaaaaaaaa`, `password12`, `Aa123456789`
or `1qaz2wsx3edc` are not. There are no composition rules: a few unrelated words pass.
"""
from __future__ import annotations

from zxcvbn import zxcvbn

from app.core.security import MIN_PASSWORD_LENGTH

MAX_PASSWORD_LENGTH = 1024  # argon2 hashes any length; a cap keeps one request from costing much
MIN_SCORE = 3
ESTIMATED_CHARACTERS = 72  # zxcvbn's own limit; a longer password is judged by its start
MIN_PART = 4  # a shorter part of a name (Li, Ana) may occur in any password by chance


def problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why the password is refused (a sentence a person can act on), or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"the password must have at most {MAX_PASSWORD_LENGTH} characters"
    personal = _personal(email, name)
    folded = password.casefold()
    if any(part in folded for part in personal):
        return "the password must not contain your email address or your name"
    verdict = zxcvbn(password[:ESTIMATED_CHARACTERS], user_inputs=sorted(personal))
    if verdict["score"] < MIN_SCORE:
        feedback = verdict["feedback"]
        hints = " ".join(filter(None, [feedback.get("warning"), *feedback.get("suggestions", [])]))
        return "the password is too easy to guess" + (f": {hints}" if hints else "; add a few unrelated words")
    return None


def _personal(email: str, name: str) -> set[str]:
    email = email.strip().casefold()
    local = email.partition("@")[0]
    words = name.casefold().split()
    parts = {email, local, "".join(words), *words}
    return {p for p in parts if len(p) >= MIN_PART}

"""Password hashing (argon2), random tokens, HMAC signing, and the security headers."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# argon2id with OWASP's recommended floor (m=19 MiB, t=2, p=1): ~0.1 s here, where the library's
# default (64 MiB, t=3, p=4) costs ~0.8 s of a 2-core box per login, an easy way to exhaust it.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the account does not exist, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """A hash made with other parameters (upgraded at the next successful login)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def new_token(prefix: str = "") -> tuple[str, str]:
    """A fresh random token and the SHA-256 hex under which it is stored."""
    token = prefix + secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign(value: str, key: str) -> str:
    mac = hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()
    return f"{value}.{mac}"


def unsign(signed: str, key: str) -> str | None:
    value, _, mac = signed.rpartition(".")
    expected = hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()
    # Bytes, not str: compare_digest raises on non-ASCII text, and a cookie is whatever the client sent.
    return value if value and hmac.compare_digest(mac.encode(), expected.encode()) else None


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
def security_headers(path: str, scheme: str) -> list[tuple[bytes, bytes]]:
    """The headers every response carries (HSTS only over https, where a browser honours it)."""
    headers = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
    ]
    if scheme == "https":
        headers.append((b"strict-transport-security", b"max-age=31536000"))
    return headers


class SecurityHeadersMiddleware:
    """Adds the security headers to every response, whatever produced it (errors and crashes too).

    A response may carry its own, stricter Content-Security-Policy (served media: `default-src 'none';
    sandbox`): browsers enforce every policy sent, so it can only tighten ours. Dynamic responses
    without a Cache-Control get `no-store` (pages show tokens and people's work; back-button after
    logout must not show them); /static keeps its validators.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        ours = security_headers(path, scope.get("scheme", "http"))
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                own = message.get("headers", [])
                replaced = {k for k, _ in ours if k != b"content-security-policy"}
                headers = [(k, v) for k, v in own if k.lower() not in replaced] + ours
                if all(k.lower() != b"cache-control" for k, _ in own) and not path.startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # An unhandled error: Starlette's outermost handler would answer without our headers.
            if not started:
                await _internal_error(path, send_with_headers)
            raise


async def _internal_error(path: str, send: Send) -> None:
    if path.startswith("/api/"):
        body = b'{"error": "Internal error", "message": "something went wrong; it was logged"}'
        kind = b"application/json"
    else:
        body, kind = b"Internal error: something went wrong; it was logged.", b"text/plain; charset=utf-8"
    await send({"type": "http.response.start", "status": 500,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

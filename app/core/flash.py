"""One-line status messages carried across a POST → 303 → GET redirect.

The message rides in the query string inside a token signed with itsdangerous (a timed serializer
under the app's secret key and a salt of its own) that binds it to the user it was made for (0 before
login), the path it was made for, and a short life (MAX_AGE_SECONDS). A link made by someone else,
opened by another user, on another page, or later, shows nothing: the app's words cannot be carried
to another person's screen. Messages are the app's own sentences, ids and
numbers, and names already stored: never what the request itself typed (a refusal that must repeat
the input is rendered on the form's own response instead).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse
from itsdangerous import BadData, URLSafeTimedSerializer

MAX_AGE_SECONDS = 120  # a redirect is followed at once; a reload a little later still shows it
SALT = "concord.flash"


def _signer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(request.app.state.secret_key, salt=SALT)


def _user_id(request: Request) -> int:
    principal = getattr(request.state, "principal", None)
    return principal.user.id if principal is not None else 0


def redirect_with_flash(request: Request, path: str, message: str) -> RedirectResponse:
    """303 to `path` (which may carry a query already) showing `message` there, to this user only."""
    token = _signer(request).dumps({"m": message, "u": _user_id(request), "p": urlsplit(path).path})
    return RedirectResponse(f"{path}{'&' if '?' in path else '?'}{urlencode({'flash': token})}", status_code=303)


def flash_of(request: Request) -> str | None:
    """The message of a valid token for this user and path, else None (forged, replayed or stale)."""
    token = request.query_params.get("flash")
    if not token:
        return None
    try:
        data: Any = _signer(request).loads(token, max_age=MAX_AGE_SECONDS)
    except BadData:
        return None
    if not isinstance(data, dict) or data.get("u") != _user_id(request) or data.get("p") != request.url.path:
        return None
    message = data.get("m")
    return message if isinstance(message, str) else None

"""One-line status messages carried across a POST → 303 → GET redirect.

The message rides in the query string with an HMAC, so only the app can put words on its own pages:
a crafted link with `?flash=Your account is locked, call ...` shows nothing.
"""
from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import RedirectResponse


def _tag(key: str, message: str) -> str:
    return hmac.new(key.encode(), b"flash:" + message.encode(), hashlib.sha256).hexdigest()[:20]


def redirect_with_flash(request: Request, path: str, message: str) -> RedirectResponse:
    """303 to `path` (which may carry a query already) showing `message` there."""
    query = urlencode({"flash": message, "flash_tag": _tag(request.app.state.secret_key, message)})
    return RedirectResponse(f"{path}{'&' if '?' in path else '?'}{query}", status_code=303)


def flash_of(request: Request) -> str | None:
    message, tag = request.query_params.get("flash"), request.query_params.get("flash_tag", "")
    if not message or not hmac.compare_digest(tag, _tag(request.app.state.secret_key, message)):
        return None
    return message

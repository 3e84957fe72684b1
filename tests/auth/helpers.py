"""Small helpers of the identity tests: read tokens off pages, log in through the real form."""
from __future__ import annotations

import re

import httpx
from fastapi.testclient import TestClient

from app.auth.deps import SESSION_COOKIE


def csrf_of(page: httpx.Response) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert match, "the page has no csrf-token meta tag"
    return match.group(1)


def form_login(client: TestClient, email: str, password: str, next: str = "/") -> httpx.Response:
    """Log in through the login form (double-submit token and all), without following the redirect."""
    token = csrf_of(client.get("/login"))
    return client.post("/login", data={"email": email, "password": password, "next": next, "csrf_token": token},
                       follow_redirects=False)


def session_cookie(client: TestClient) -> str | None:
    return client.cookies.get(SESSION_COOKIE)

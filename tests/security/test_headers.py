"""Security headers on every kind of response (#18): pages, JSON, static files, redirects, every error
status, and crashes; an enforced CSP without inline script."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.access import public
from app.core.templating import TEMPLATES_DIR
from app.main import create_app
from tests.conftest import make_test_settings
from tests.factories import make_user
from tests.support.databases import engine_url


def assert_secure_headers(response: httpx.Response, what: str) -> None:
    headers = response.headers
    csp = headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src", 1)[1].split(";")[0], what
    assert "frame-ancestors 'none'" in csp, what
    assert "object-src 'none'" in csp, what
    assert headers.get("x-content-type-options") == "nosniff", what
    assert headers.get("referrer-policy") == "same-origin", what
    assert headers.get("x-frame-options") == "DENY", what


def test_every_kind_of_response_carries_the_headers(db: Session, anon: TestClient,
                                                    client_for: object) -> None:
    user = make_user(db, password=None)
    logged_in = client_for(user)  # type: ignore[operator]
    cases = {
        "page": anon.get("/login"),
        "json": anon.get("/healthz"),
        "static css": anon.get("/static/css/app.css"),
        "static js": anon.get("/static/js/confirm.js"),
        "static 404": anon.get("/static/nope.css"),
        "redirect": anon.get("/", follow_redirects=False),
        "401 json": anon.get("/api/v1/me"),
        "404 page": logged_in.get("/no/such/page"),
        "404 json": logged_in.get("/api/v1/no/such/thing"),
        "405": anon.put("/healthz"),
        "422": logged_in.get("/api/v1/users?sort=password_hash"),
        "403": logged_in.get("/admin/users"),
        "413": anon.post("/login", content=b"x" * 10, headers={"content-length": str(2**40)}),
        "HEAD": anon.head("/static/css/app.css"),
        "openapi": anon.get("/openapi.json"),
    }
    for what, response in cases.items():
        assert_secure_headers(response, what)
    assert cases["404 page"].status_code == 404 and cases["413"].status_code == 413
    assert cases["page"].headers["cache-control"] == "no-store"
    assert "no-store" not in cases["static css"].headers.get("cache-control", "")


def test_a_crash_still_carries_the_headers(engine: object, tmp_path: Path) -> None:
    crashing = create_app(make_test_settings(engine_url(engine), tmp_path))  # type: ignore[arg-type]

    @public
    def boom() -> None:
        raise RuntimeError("boom")

    crashing.add_api_route("/api/v1/boom", boom)
    crashing.add_api_route("/boom", boom)
    with TestClient(crashing, raise_server_exceptions=False) as client:
        for path in ("/api/v1/boom", "/boom"):
            response = client.get(path)
            assert response.status_code == 500
            assert "boom" not in response.text  # no traceback or message leaks
            assert_secure_headers(response, path)


def test_https_responses_ask_for_strict_transport(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver") as client:
        assert client.get("/login").headers["strict-transport-security"].startswith("max-age=")
    with TestClient(app, base_url="http://testserver") as client:
        assert "strict-transport-security" not in client.get("/login").headers


def test_a_route_may_tighten_the_policy_but_not_replace_it(engine: object, tmp_path: Path) -> None:
    from fastapi.responses import Response

    strict = create_app(make_test_settings(engine_url(engine), tmp_path))  # type: ignore[arg-type]

    @public
    def media() -> Response:
        return Response(b"x", media_type="image/png", headers={"content-security-policy": "default-src 'none'; sandbox",
                                                               "x-frame-options": "ALLOWALL"})

    strict.add_api_route("/media", media)
    with TestClient(strict) as client:
        response = client.get("/media")
    policies = response.headers.get_list("content-security-policy")
    assert "default-src 'none'; sandbox" in policies and len(policies) == 2
    assert response.headers.get_list("x-frame-options") == ["DENY"]


TEMPLATES = sorted(p.relative_to(TEMPLATES_DIR).as_posix() for p in TEMPLATES_DIR.rglob("*.html"))


@pytest.mark.parametrize("template", TEMPLATES)
def test_templates_have_no_inline_script_style_or_unescaped_output(template: str) -> None:
    """The CSP would block inline code anyway; this finds it before a user does (#9, #18)."""
    import re

    text = (TEMPLATES_DIR / template).read_text()
    # A JSON data island (type="application/json", filled with |tojson) is data, not code: allowed.
    assert not re.search(r"<script(?![^>]*\b(src=|type=\"application/json\"))[^>]*>", text), \
        "inline <script>: move it to static/js/"
    assert not re.search(r"\son[a-z]+\s*=", text), "inline event handler: attach it from static/js/"
    assert not re.search(r"\sstyle\s*=", text), "inline style attribute: use a class or SVG attributes"
    assert not re.search(r"\|\s*safe\b|autoescape\s+false", text), "unescaped output: build Markup in Python"

"""The skeleton: health check, security headers, errors, the home and project pages."""
from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from tests.factories import make_member, make_project, make_user


def test_healthz_reports_the_database(anon: TestClient) -> None:
    response = anon.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] in {"sqlite", "postgresql"}


def test_every_response_carries_the_security_headers(anon: TestClient) -> None:
    for path in ("/login", "/healthz", "/nope", "/static/css/app.css"):
        headers = anon.get(path).headers
        assert "script-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"


def test_anonymous_page_request_is_sent_to_login(anon: TestClient) -> None:
    response = anon.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/"


def test_unknown_api_path_answers_json_404(anon: TestClient) -> None:
    response = anon.get("/api/v1/nothing-here")
    assert response.status_code in (401, 404)
    assert response.headers["content-type"].startswith("application/json")


def test_home_lists_only_my_projects(db: Session, client_for: Callable[[User], TestClient]) -> None:
    mine, other = make_project(db, name="Line 1 housings"), make_project(db, name="Secret line")
    inspector = make_member(db, mine, Role.inspector)
    page = client_for(inspector).get("/")
    assert page.status_code == 200
    assert "Line 1 housings" in page.text
    assert "Secret line" not in page.text
    assert client_for(inspector).get(f"/projects/{other.id}").status_code == 404


def test_project_page_shows_the_classes(db: Session, client_for: Callable[[User], TestClient]) -> None:
    project = make_project(db, classes=("ok", "dent", "<b>pit</b>"))
    admin = make_user(db, site_admin=True)
    page = client_for(admin).get(f"/projects/{project.id}")
    assert page.status_code == 200
    assert "dent" in page.text
    assert "&lt;b&gt;pit&lt;/b&gt;" in page.text and "<b>pit</b>" not in page.text

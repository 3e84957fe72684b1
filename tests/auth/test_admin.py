"""Site admin pages and API: people and projects. No self-registration (#16)."""
from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth import tokens
from app.auth.models import Membership, User
from app.core.audit import AuditEvent
from app.projects.models import LabelClass, Project
from tests.factories import make_member, make_project, make_user

NEW_PASSWORD = "a fine first passphrase"


def test_a_site_admin_creates_people_on_the_page(db: Session, client_for: Callable[[User], TestClient]) -> None:
    admin = make_user(db, site_admin=True, password=None)
    client = client_for(admin)
    response = client.post("/admin/users", data={"email": "Nia@Example.com", "display_name": "Nia",
                                                 "password": NEW_PASSWORD}, follow_redirects=False)
    assert response.status_code == 303
    nia = db.scalar(select(User).where(User.email == "nia@example.com"))
    assert nia is not None and nia.password_hash and not nia.is_site_admin
    page = client.get("/admin/users")
    assert "nia@example.com" in page.text and "$argon2" not in page.text
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "user.created", AuditEvent.object_id == nia.id))
    assert event is not None and event.actor_id == admin.id


def test_creating_a_person_reports_problems_on_the_form(db: Session,
                                                        client_for: Callable[[User], TestClient]) -> None:
    admin = make_user(db, site_admin=True, password=None, email="root@example.com")
    client = client_for(admin)
    taken = client.post("/admin/users", data={"email": "root@example.com", "password": NEW_PASSWORD,
                                              "display_name": "Again"})
    assert taken.status_code == 409 and "already exists" in taken.text and 'value="Again"' in taken.text
    short = client.post("/admin/users", data={"email": "x@example.com", "password": "short"})
    assert short.status_code == 422 and "at least 10" in short.text
    bad = client.post("/admin/users", data={"email": "not an email", "password": NEW_PASSWORD})
    assert bad.status_code == 422


def test_only_site_admins_create_people_and_projects(db: Session, client_for: Callable[[User], TestClient]) -> None:
    project = make_project(db)
    project_admin = make_member(db, project, password=None)
    client = client_for(project_admin)
    assert client.post("/admin/users", data={"email": "x@example.com", "password": NEW_PASSWORD,
                                             "is_site_admin": "true"}).status_code == 403
    assert client.post("/api/v1/users", json={"email": "x@example.com", "is_site_admin": True}).status_code == 403
    assert client.post("/api/v1/projects", json={"name": "Mine", "classes": ["ok"]}).status_code == 403
    assert db.scalar(select(User).where(User.email == "x@example.com")) is None


def test_a_site_admin_creates_a_project_with_classes(db: Session, client_for: Callable[[User], TestClient]) -> None:
    admin = make_user(db, site_admin=True, password=None)
    client = client_for(admin)
    response = client.post("/admin/projects", data={"name": "Line 4 castings", "classes": "ok, porosity, crack",
                                                     "task_type": "boxes", "labels_per_image": "3"},
                           follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/projects/")
    project = db.scalar(select(Project).where(Project.name == "Line 4 castings"))
    assert project is not None and project.task_type == "boxes" and project.labels_per_image == 3
    names = db.scalars(select(LabelClass.name).where(LabelClass.project_id == project.id)
                       .order_by(LabelClass.position)).all()
    assert names == ["ok", "porosity", "crack"]
    again = client.post("/admin/projects", data={"name": "Line 4 castings", "classes": "ok"})
    assert again.status_code == 409 and 'value="Line 4 castings"' in again.text
    assert "Line 4 castings" in client.get("/admin/projects").text


def test_the_projects_api(db: Session, client_for: Callable[[User], TestClient]) -> None:
    admin = make_user(db, site_admin=True, password=None)
    client = client_for(admin)
    created = client.post("/api/v1/projects", json={
        "name": "API project", "classes": ["ok", {"name": "dent", "hotkey": "d", "colour": "#112233"}],
        "task_type": "classification", "created_by_id": 999, "id": 1})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["role"] == "admin" and body["task_type"] == "classification"
    project = db.get(Project, body["id"])
    assert project is not None and project.created_by_id == admin.id
    assert client.post("/api/v1/projects", json={"name": "No classes", "classes": []}).status_code == 422


def test_my_projects_lists_only_mine_with_my_role(db: Session, client_for: Callable[[User], TestClient]) -> None:
    mine, _other = make_project(db, name="Mine"), make_project(db, name="Not mine")
    user = make_member(db, mine, password=None)
    listed = client_for(user).get("/api/v1/projects").json()
    assert [(p["name"], p["role"]) for p in listed] == [("Mine", "inspector")]


def test_deactivating_a_person_ends_their_sessions_and_tokens(db: Session,
                                                              client_for: Callable[[User], TestClient]) -> None:
    admin = make_user(db, site_admin=True, password=None)
    person = make_user(db, password=None)
    their_browser = client_for(person)
    _token, raw = tokens.create_token(db, user=person, name="t", actor=None, max_days=90)
    response = client_for(admin).post(f"/admin/users/{person.id}/active", data={"active": "false"},
                                      follow_redirects=False)
    assert response.status_code == 303
    assert their_browser.get("/api/v1/me").status_code == 401
    assert their_browser.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 401
    assert client_for(admin).post(f"/admin/users/{admin.id}/active", data={"active": "false"}).status_code == 409
    reactivated = client_for(admin).post(f"/admin/users/{person.id}/active", data={"active": "true"},
                                         follow_redirects=False)
    assert reactivated.status_code == 303
    assert their_browser.get("/api/v1/me", headers={"Authorization": f"Bearer {raw}"}).status_code == 200
    actions = [e.action for e in db.scalars(select(AuditEvent).where(AuditEvent.object_id == person.id,
                                                                    AuditEvent.object_type == "user"))]
    assert actions[-2:] == ["user.deactivated", "user.activated"]


def test_the_users_api_creates_and_lists_without_hashes(db: Session,
                                                       client_for: Callable[[User], TestClient]) -> None:
    admin = make_user(db, site_admin=True, password=None)
    client = client_for(admin)
    created = client.post("/api/v1/users", json={"email": "ops@example.com", "display_name": "Ops",
                                                 "password": NEW_PASSWORD, "is_site_admin": True})
    assert created.status_code == 201 and created.json()["is_site_admin"] is True
    assert "password" not in created.text
    listed = client.get("/api/v1/users").json()
    assert {"ops@example.com", admin.email} <= {u["email"] for u in listed}
    assert db.scalar(select(Membership).where(Membership.user_id == created.json()["id"])) is None

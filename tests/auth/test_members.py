"""Members of a project, as its admins manage them: page and API, audit, last-admin rule, mass assignment."""
from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import Membership, Role, User
from app.core.audit import AuditEvent
from tests.factories import add_member, make_member, make_project, make_user


def _role(db: Session, project_id: int, user_id: int) -> str | None:
    return db.scalar(select(Membership.role).where(Membership.project_id == project_id,
                                                   Membership.user_id == user_id))


def test_the_members_page_lists_adds_changes_and_removes(db: Session, client_for: Callable[[User], TestClient]) -> None:
    project = make_project(db, name="Housings")
    admin = make_member(db, project, Role.admin, password=None, name="Ada Admin")
    newcomer = make_user(db, password=None, email="new@example.com", name="Nia New")
    client = client_for(admin)
    page = client.get(f"/projects/{project.id}/members")
    assert page.status_code == 200 and "Ada Admin" in page.text and "Nia New" not in page.text

    added = client.post(f"/projects/{project.id}/members", data={"email": "NEW@example.com ", "role": "inspector"},
                        follow_redirects=False)
    assert added.status_code == 303 and _role(db, project.id, newcomer.id) == "inspector"
    changed = client.post(f"/projects/{project.id}/members/{newcomer.id}/role", data={"role": "reviewer"},
                          follow_redirects=False)
    assert changed.status_code == 303 and _role(db, project.id, newcomer.id) == "reviewer"
    removed = client.post(f"/projects/{project.id}/members/{newcomer.id}/remove", follow_redirects=False)
    assert removed.status_code == 303 and _role(db, project.id, newcomer.id) is None

    events = db.scalars(select(AuditEvent).where(AuditEvent.object_id == newcomer.id,
                                                 AuditEvent.project_id == project.id)).all()
    assert [(e.action, e.actor_id) for e in events] == [("member.added", admin.id), ("role.changed", admin.id),
                                                       ("member.removed", admin.id)]
    assert events[1].data == {"from": "inspector", "to": "reviewer"}


def test_adding_an_unknown_email_or_a_member_again_says_so(db: Session,
                                                           client_for: Callable[[User], TestClient]) -> None:
    project = make_project(db)
    admin = make_member(db, project, Role.admin, password=None)
    client = client_for(admin)
    unknown = client.post(f"/projects/{project.id}/members", data={"email": "ghost@example.com"})
    assert unknown.status_code == 422 and "a site admin creates accounts" in unknown.text
    again = client.post(f"/projects/{project.id}/members", data={"email": admin.email, "role": "inspector"})
    assert again.status_code == 409 and "already a member" in again.text
    assert _role(db, project.id, admin.id) == "admin"


def test_a_project_admin_cannot_leave_the_project_without_an_admin(db: Session,
                                                                  client_for: Callable[[User], TestClient]) -> None:
    project = make_project(db)
    admin = make_member(db, project, Role.admin, password=None)
    client = client_for(admin)
    demote = client.post(f"/projects/{project.id}/members/{admin.id}/role", data={"role": "inspector"})
    assert demote.status_code == 409 and "last admin" in demote.text
    assert client.post(f"/projects/{project.id}/members/{admin.id}/remove").status_code == 409
    assert _role(db, project.id, admin.id) == "admin"
    second = make_member(db, project, Role.admin, password=None)
    assert client.post(f"/projects/{project.id}/members/{admin.id}/role", data={"role": "reviewer"},
                       follow_redirects=False).status_code == 303
    assert _role(db, project.id, second.id) == "admin"


def test_the_members_api(db: Session, client_for: Callable[[User], TestClient]) -> None:
    project = make_project(db)
    admin = make_member(db, project, Role.admin, password=None, email="admin@example.com")
    person = make_user(db, password=None, email="person@example.com")
    client = client_for(admin)
    base = f"/api/v1/projects/{project.id}/members"
    created = client.post(base, json={"email": person.email, "role": "reviewer"})
    assert created.status_code == 201 and created.json()["role"] == "reviewer"
    listed = client.get(base, params={"sort": "-email"}).json()
    assert [m["email"] for m in listed] == ["person@example.com", "admin@example.com"]
    assert [m["email"] for m in client.get(base, params={"filter": "role:admin"}).json()] == ["admin@example.com"]
    assert client.get(base, params={"sort": "password_hash"}).status_code == 422
    assert client.patch(f"{base}/{person.id}", json={"role": "inspector"}).json()["role"] == "inspector"
    assert client.patch(f"{base}/{person.id}", json={"role": "owner"}).status_code == 422
    assert client.delete(f"{base}/{person.id}").status_code == 204
    assert client.delete(f"{base}/{person.id}").status_code == 404
    assert all("password" not in key for m in listed for key in m)


def test_a_member_body_cannot_grant_site_admin_or_reach_another_project(
    db: Session, client_for: Callable[[User], TestClient]
) -> None:
    mine, other = make_project(db), make_project(db)
    admin = make_member(db, mine, Role.admin, password=None)
    person = make_user(db, password=None)
    client = client_for(admin)
    response = client.post(f"/api/v1/projects/{mine.id}/members",
                           json={"email": person.email, "role": "inspector", "is_site_admin": True,
                                 "project_id": other.id, "user_id": admin.id})
    assert response.status_code == 201
    db.refresh(person)
    assert not person.is_site_admin
    assert _role(db, mine.id, person.id) == "inspector" and _role(db, other.id, person.id) is None
    add_member(db, other, make_user(db, password=None))
    assert client.patch(f"/api/v1/projects/{mine.id}/members/{person.id}",
                        json={"role": "admin", "is_site_admin": True}).status_code == 200
    db.refresh(person)
    assert not person.is_site_admin


def test_lower_roles_cannot_manage_members(db: Session, client_for: Callable[[User], TestClient]) -> None:
    project = make_project(db)
    reviewer = make_member(db, project, Role.reviewer, password=None)
    victim = make_member(db, project, Role.inspector, password=None)
    client = client_for(reviewer)
    assert client.get(f"/projects/{project.id}/members").status_code == 403
    assert client.post(f"/projects/{project.id}/members/{victim.id}/role", data={"role": "admin"}).status_code == 403
    assert client.post(f"/projects/{project.id}/members/{reviewer.id}/role",
                       data={"role": "admin"}).status_code == 403  # no promoting oneself
    assert _role(db, project.id, reviewer.id) == "reviewer"

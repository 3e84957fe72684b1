"""Flag for review over the JSON API, the image page's form and the CLI: roles, validation, nothing
stored on bad input, 409 for a pending flag."""
from __future__ import annotations

import json
from collections.abc import Callable

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.auth.models import User
from app.cli import root
from app.consistency.models import Conflict
from app.core.audit import AuditEvent
from tests.factories import make_annotation, make_final_label, make_image, make_project, make_user
from tests.review.scene import Scene, make_scene

Client = Callable[[User], TestClient]


def agreed(s: Scene, name: str = "ok") -> object:
    image = make_image(s.db, s.project)
    for labeler in s.labelers:
        make_annotation(s.db, image, labeler, s.cls(name))
    make_final_label(s.db, image, s.cls(name), source="unanimous")
    return image


def flags_stored(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Conflict).where(Conflict.kind == "flagged")) or 0


def test_api_flag_roles_validation_and_409(db: Session, client_for: Client) -> None:
    s = make_scene(db)
    image = agreed(s)
    url = f"/api/v1/projects/{s.project.id}/images/{image.id}/flag"  # type: ignore[attr-defined]
    outsider = make_user(db)
    assert client_for(outsider).post(url, json={"note": "wrong"}).status_code == 404
    assert client_for(s.labelers[0]).post(url, json={"note": "wrong"}).status_code == 403
    for body in ({"note": ""}, {"note": "   "}, {}, {"note": "x" * 2001}, {"note": "ok", "severity": 100}):
        answer = client_for(s.reviewer).post(url, json=body)
        assert answer.status_code == 422, body
    other = make_image(db, make_project(db))
    assert client_for(s.reviewer).post(f"/api/v1/projects/{s.project.id}/images/{other.id}/flag",
                                       json={"note": "wrong"}).status_code == 404
    assert flags_stored(db) == 0
    made = client_for(s.reviewer).post(url, json={"note": "the clip hides a scratch"})
    assert made.status_code == 201
    body = made.json()
    assert body["state"] == "open" and body["image_id"] == image.id and body["severity"] >= 90  # type: ignore[attr-defined]
    assert body["url"].endswith(f"/review/conflicts/{body['conflict_id']}")
    again = client_for(s.admin).post(url, json={"note": "me too"})
    assert again.status_code == 409 and again.json()["detail"]["conflict_id"] == body["conflict_id"]
    assert flags_stored(db) == 1
    conflict = db.get(Conflict, body["conflict_id"])
    assert conflict.details["note"] == "the clip hides a scratch" and conflict.details["flagged_by"] == s.reviewer.id
    decided = client_for(s.admin).post(f"/api/v1/projects/{s.project.id}/review/conflicts/{conflict.id}/decisions",
                                       json={"decision": "edit", "version": conflict.version,
                                             "label_class_id": s.cls("scratch").id, "reason": "the clip"})
    assert decided.status_code == 201
    image_page = client_for(s.reviewer).get(f"/projects/{s.project.id}/images/{image.id}")  # type: ignore[attr-defined]
    html = BeautifulSoup(image_page.text, "html.parser")
    final = html.select_one("#final-label").get_text()
    assert "scratch" in final and "review" in final


def test_the_image_page_form_flags_and_shows_errors(db: Session, client_for: Client) -> None:
    s = make_scene(db)
    image = agreed(s)
    page_url = f"/projects/{s.project.id}/images/{image.id}"  # type: ignore[attr-defined]
    client, inspector = client_for(s.reviewer), client_for(s.labelers[0])
    db.commit()  # the route rolls back a refused flag: to the test's savepoint, not before the scene
    html = BeautifulSoup(client.get(page_url).text, "html.parser")
    assert html.select_one("#flag-form textarea[name=note][required]") is not None
    empty = client.post(f"{page_url}/flag", data={"note": "  "})
    assert empty.status_code == 422 and "write a note" in empty.text
    assert flags_stored(db) == 0
    done = client.post(f"{page_url}/flag?source=unanimous", data={"note": "dent <b>hidden</b>"},
                       follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"].startswith(f"{page_url}?source=unanimous&flash=")
    shown = BeautifulSoup(client.get(page_url).text, "html.parser")
    assert shown.select_one("#flag-form") is None
    assert "dent <b>hidden</b>" in shown.select_one("#flag-card").get_text()  # escaped, shown as text
    link = shown.select_one("#flag-conflict-link")["href"]
    assert client.get(link).status_code == 200
    twice = client.post(f"{page_url}/flag", data={"note": "again"})
    assert twice.status_code == 409 and "already flagged" in twice.text
    assert flags_stored(db) == 1
    assert db.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "review.flagged")) == 1
    assert inspector.post(f"{page_url}/flag", data={"note": "x"}).status_code == 403


def test_cli_flag(cli_env: Engine) -> None:
    with Session(cli_env, expire_on_commit=False) as db:
        s = make_scene(db, name="CLI flags")
        s.reviewer.email = "rita@example.com"
        image = agreed(s)
        labeler = s.labelers[0].email
        db.commit()
    args = ["review", "flag", "CLI flags", "--image", str(image.id), "--note", "looks dented"]  # type: ignore[attr-defined]
    result = CliRunner().invoke(root, [*args, "--reviewer", "rita@example.com", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    made = json.loads(result.stdout)
    again = CliRunner().invoke(root, [*args, "--reviewer", "rita@example.com"], catch_exceptions=False)
    assert again.exit_code == 1 and "already flagged" in again.output
    refused = CliRunner().invoke(root, [*args, "--reviewer", labeler], catch_exceptions=False)
    assert refused.exit_code == 1 and "not a reviewer" in refused.output
    empty = CliRunner().invoke(root, ["review", "flag", "CLI flags", "--image", str(image.id), "--note", " ",  # type: ignore[attr-defined]
                                      "--reviewer", "rita@example.com"], catch_exceptions=False)
    assert empty.exit_code == 1 and "write a note" in empty.output
    with Session(cli_env) as db:
        rows = db.scalars(select(Conflict).where(Conflict.kind == "flagged")).all()
        assert [(c.id, c.state, c.details["note"]) for c in rows] == [(made["conflict_id"], "open", "looks dented")]

"""A Label Studio import attributes answers to an existing account only when the admin says so (finding 5):
an export naming a site admin's email must not make them an inspector and the author of its answers."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import Membership
from app.core.errors import Invalid
from app.images.import_accounts import Accounts, read_mapping
from app.labeling.models import Annotation
from tests.factories import make_project, make_user
from tests.images.test_imports import CLASSES, import_env, make_export, run_labelstudio, task


@pytest.fixture
def env(tmp_path: Path) -> object:
    return import_env(tmp_path)


def test_an_existing_account_gets_answers_and_a_membership_only_when_the_admin_says_so(
        db: Session, env, tmp_path: Path) -> None:
    boss = make_user(db, email="boss@example.com", site_admin=True)
    project = make_project(db, classes=CLASSES)
    db.commit()
    root = make_export(tmp_path, [task(annotations=[{**task()["annotations"][0],
                                                      "completed_by": {"id": 1, "email": "Boss@Example.com"}}])])
    with pytest.raises(Invalid) as caught:
        run_labelstudio(db, env, root, project)
    assert caught.value.field == "tasks[0].annotations[0].completed_by"
    assert "boss@example.com is an existing Concord account" in caught.value.message
    assert "--match-existing" in caught.value.message
    assert db.scalar(select(func.count()).select_from(Membership).where(Membership.project_id == project.id)) == 0
    assert db.scalar(select(func.count()).select_from(Annotation)) == 0

    report = run_labelstudio(db, env, root, project, accounts=Accounts(match_existing=True))
    assert report.users_created == []
    assert report.accounts == [{"source": "boss@example.com", "email": "boss@example.com", "user_id": boss.id,
                                "how": "matched an existing account (--match-existing)"}]
    assert report.memberships_created == [{"email": "boss@example.com", "user_id": boss.id, "role": "inspector"}]
    assert db.scalar(select(Annotation.labeler_id)) == boss.id


def test_a_mapping_names_the_account_and_accounts_made_by_imports_match_silently(
        db: Session, env, tmp_path: Path) -> None:
    ivan = make_user(db, email="ivan@factory.example")
    first, second = make_project(db, classes=CLASSES), make_project(db, classes=CLASSES)
    root = make_export(tmp_path, [task(), task(id=2, annotations=[{**task()["annotations"][0], "id": 8,
                                                                      "completed_by": 42}])])
    (tmp_path / "accounts.csv").write_text("source,account\n42,Ivan@Factory.example\nghost@example.com,x@y.z\n")
    mapping = read_mapping(tmp_path / "accounts.csv")
    report = run_labelstudio(db, env, root, first, accounts=Accounts(mapping=mapping))
    assert [(a["email"], a["how"]) for a in report.accounts] == [("new@example.com", "created"),
                                                                  ("ivan@factory.example", "named by the admin")]
    assert report.users_created == ["new@example.com"] and report.accounts_unused_mappings == ["ghost@example.com"]
    assert {m["email"] for m in report.memberships_created} == {"new@example.com", "ivan@factory.example"}
    again = run_labelstudio(db, env, root, second, accounts=Accounts(mapping=mapping))
    assert [a["how"] for a in again.accounts] == ["matched an account made by an earlier import", "named by the admin"]
    assert {a.labeler_id for a in db.scalars(select(Annotation))} >= {ivan.id}


@pytest.mark.parametrize(("text", "says"), [
    ("who,where\na,b@c.d\n", "needs a header"),
    ("source,account\n42,not-an-email\n", "line 2"),
    ("source,account\n42,a@b.c\n42,d@e.f\n", "line 3: 42 is mapped twice"),
])
def test_a_bad_mapping_file_is_refused_naming_the_line(tmp_path: Path, text: str, says: str) -> None:
    (tmp_path / "accounts.csv").write_text(text)
    with pytest.raises(Invalid, match=says):
        read_mapping(tmp_path / "accounts.csv")

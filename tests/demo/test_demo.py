"""`concord demo`, the README's first command: a project with every story the product tells, once."""
from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from app.analysis.models import DriftReport
from app.auth.models import Membership, User
from app.cli import root
from app.consistency.models import Conflict, ConflictKind, ConflictState
from app.core.db import make_sessionmaker
from app.core.security import verify_password
from app.demo.service import ACCOUNTS, DEMO_PROJECT
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.models import ClassExample, Project

pytestmark = pytest.mark.slow


def run_demo(images: int) -> None:
    done = CliRunner().invoke(root, ["demo", "--images", str(images), "--no-serve"])
    assert done.exit_code == 0, done.output


def test_the_demo_seeds_a_project_with_conflicts_a_defect_book_and_logins(cli_env: Engine, tmp_path: Path) -> None:
    run_demo(60)
    with make_sessionmaker(cli_env)() as db:
        project = db.scalars(select(Project).where(Project.name == DEMO_PROJECT)).one()
        images = db.scalar(select(func.count()).select_from(Image).where(Image.project_id == project.id))
        labeled = db.scalar(select(func.count(func.distinct(Annotation.image_id))).join(Image)
                            .where(Image.project_id == project.id))
        assert labeled == 60 and images is not None and images > labeled  # a new batch waits for the inspector
        kinds = set(db.scalars(select(Conflict.kind).where(Conflict.project_id == project.id,
                                                           Conflict.state == ConflictState.open)))
        assert ConflictKind.class_disagreement in kinds
        assert db.scalar(select(func.count()).select_from(ClassExample)) > 0  # type: ignore[operator]
        assert db.scalar(select(func.count()).select_from(DriftReport)
                         .where(DriftReport.project_id == project.id)) == 1
        logins = json.loads((tmp_path / "data" / "demo-logins.json").read_text())
        assert stat.S_IMODE((tmp_path / "data" / "demo-logins.json").stat().st_mode) == 0o600
        for email, _name, _site_admin, role in ACCOUNTS:
            user = db.scalars(select(User).where(User.email == email)).one()
            assert verify_password(user.password_hash, logins[email])
            membership = db.scalars(select(Membership).where(Membership.user_id == user.id,
                                                             Membership.project_id == project.id)).one()
            assert membership.role == role


def test_running_the_demo_again_keeps_what_is_there(cli_env: Engine, tmp_path: Path) -> None:
    run_demo(20)
    with make_sessionmaker(cli_env)() as db:
        before = [db.scalar(select(func.count()).select_from(m)) for m in (Image, Annotation)]
        hashes = dict(db.execute(select(User.email, User.password_hash)).all())
    run_demo(20)
    with make_sessionmaker(cli_env)() as db:
        assert [db.scalar(select(func.count()).select_from(m)) for m in (Image, Annotation)] == before
        assert dict(db.execute(select(User.email, User.password_hash)).all()) == hashes
        assert db.scalar(select(func.count()).select_from(Project)) == 1

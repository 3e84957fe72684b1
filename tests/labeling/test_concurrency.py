"""The queue and submits under real concurrency: threads with their own sessions on a committed
database (`fresh_engine`), Postgres (row locks, SKIP LOCKED) and SQLite (serialized writers).
Reliability #33, #34, #38 and the issue's 8-labeler test."""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from app.auth.models import Role, User
from app.core.db import make_sessionmaker
from app.images.models import Image
from app.labeling import service
from app.labeling.models import Annotation, Assignment, AssignmentState
from app.labeling.schemas import AnnotationIn
from app.projects.models import Project
from tests.factories import class_named, make_image, make_member, make_project
from tests.labeling.helpers import SETTINGS, answer, claim


def run_parallel(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(0..n-1) in n threads released together; re-raise the first error."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    if errors:
        raise errors[0]
    return results


def seed(engine: Engine, *, images: int, labelers: int, wanted: Callable[[int], int]) -> tuple[int, list[int], int]:
    with make_sessionmaker(engine)() as db:
        project = make_project(db, labels_per_image=3)
        for i in range(images):
            make_image(db, project, labels_wanted=wanted(i))
        users = [make_member(db, project, Role.inspector, password=None).id for _ in range(labelers)]
        ok = class_named(db, project, "ok").id
        db.commit()
        return project.id, users, ok


@pytest.mark.slow
def test_eight_labelers_pull_and_submit_in_parallel(fresh_engine: Engine) -> None:
    """No slot handed out twice, nothing lost or duplicated, every image reaches its wanted count."""
    project_id, users, ok = seed(fresh_engine, images=60, labelers=8, wanted=lambda i: 3 if i % 3 else 1)
    sessions = make_sessionmaker(fresh_engine)
    handed: list[tuple[int, int, int]] = []
    ledger: list[tuple[int, int]] = []  # (annotation id, labeler) acknowledged to the client

    def labeler(i: int) -> None:
        rng = random.Random(i)
        skipped: set[int] = set()
        with sessions() as db:
            project, user = db.get(Project, project_id), db.get(User, users[i])
            while True:
                assignment = claim(db, project, user)
                db.commit()
                if assignment is None:
                    return
                handed.append((assignment.id, assignment.image_id, user.id))
                if assignment.image_id not in skipped and rng.random() < 0.15:
                    skipped.add(assignment.image_id)
                    service.skip(db, project=project, labeler=user, assignment_id=assignment.id)
                    db.commit()
                    continue
                annotation = answer(db, project, user, assignment, ok)
                db.commit()
                ledger.append((annotation.id, user.id))

    run_parallel(8, labeler)
    with sessions() as db:
        images = db.scalars(select(Image).where(Image.project_id == project_id)).all()
        live = db.execute(
            select(Annotation.image_id, Annotation.labeler_id, Annotation.id).where(
                Annotation.superseded_by_id.is_(None)
            )
        ).all()
        per_image = Counter(image_id for image_id, _, _ in live)
        assert len({(image_id, labeler_id) for image_id, labeler_id, _ in live}) == len(live)  # never twice
        for image in images:
            assert per_image[image.id] == image.labels_wanted  # every image reached its count, no more
            assert image.slots_taken == image.labels_wanted
        assert sorted(ledger) == sorted((a_id, labeler_id) for _, labeler_id, a_id in live)  # nothing lost
        assert (
            db.scalar(select(func.count()).select_from(Assignment).where(Assignment.state == AssignmentState.open)) == 0
        )
        done = Counter(db.scalars(select(Assignment.image_id).where(Assignment.state == AssignmentState.done)))
        assert done == per_image  # no slot handed out twice
    assert len(set(handed)) == len(handed)


@pytest.mark.parametrize("round_", range(5))
def test_twenty_workers_asking_at_once_get_each_image_exactly_k_times(fresh_engine: Engine, round_: int) -> None:
    """#33: 5 images x 3 labels = 15 slots for 20 simultaneous claims."""
    project_id, users, _ok = seed(fresh_engine, images=5, labelers=20, wanted=lambda i: 3)
    sessions = make_sessionmaker(fresh_engine)

    def ask(i: int) -> int | None:
        with sessions() as db:
            assignment = claim(db, db.get(Project, project_id), db.get(User, users[i]))
            db.commit()
            return assignment.image_id if assignment else None

    got = run_parallel(20, ask)
    counts = Counter(image_id for image_id in got if image_id is not None)
    assert sorted(counts.values()) == [3, 3, 3, 3, 3]
    assert got.count(None) == 5


@pytest.mark.parametrize("copies", [2, 6, 10])
def test_the_same_submit_in_parallel_stores_one_row(fresh_engine: Engine, copies: int) -> None:
    """#34: one idempotency key sent 2-10 times at once: one row, every response the same id."""
    project_id, users, ok = seed(fresh_engine, images=4, labelers=1, wanted=lambda i: 1)
    sessions = make_sessionmaker(fresh_engine)
    for _ in range(4):
        with sessions() as db:
            assignment = claim(db, db.get(Project, project_id), db.get(User, users[0]))
            db.commit()
            assignment_id = assignment.id
        key = uuid.uuid4().hex

        def submit(_: int, assignment_id: int = assignment_id, key: str = key) -> int:
            with sessions() as db:
                done = service.submit_annotation(
                    db,
                    project=db.get(Project, project_id),
                    labeler=db.get(User, users[0]),
                    assignment_id=assignment_id,
                    data=AnnotationIn(label_class_id=ok, idempotency_key=key),
                    settings=SETTINGS,
                )
                db.commit()
                return done.annotation.id

        ids = run_parallel(copies, submit)
        assert len(set(ids)) == 1
        with sessions() as db:
            assert db.scalar(select(func.count()).select_from(Annotation).where(Annotation.idempotency_key == key)) == 1


def test_two_tabs_submitting_different_answers_keep_one_and_refuse_the_other(fresh_engine: Engine) -> None:
    """#32: the second writer of the same assignment gets 409 (Conflict), never a silent overwrite."""
    from app.core.errors import Conflict

    project_id, users, ok = seed(fresh_engine, images=1, labelers=1, wanted=lambda i: 1)
    sessions = make_sessionmaker(fresh_engine)
    with sessions() as db:
        assignment_id = claim(db, db.get(Project, project_id), db.get(User, users[0])).id
        db.commit()

    def submit(i: int) -> str:
        with sessions() as db:
            try:
                service.submit_annotation(
                    db,
                    project=db.get(Project, project_id),
                    labeler=db.get(User, users[0]),
                    assignment_id=assignment_id,
                    settings=SETTINGS,
                    data=AnnotationIn(label_class_id=ok, idempotency_key=f"tab-{i}-key"),
                )
                db.commit()
                return "stored"
            except Conflict:
                return "conflict"

    assert sorted(run_parallel(2, submit)) == ["conflict", "stored"]
    with sessions() as db:
        assert db.scalar(select(func.count()).select_from(Annotation)) == 1

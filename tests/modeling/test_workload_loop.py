"""The model loop on the shared inspection workload (known truth), end to end through the real training:

version 1 decides every labeler disagreement with a wrong answer one of the labelers gave; its run's next
steps name the weak class, and sending its likely label errors to review puts the wrongly decided images
at the top of the queue; version 2 decides them with the truth; its run is clearly more accurate against
the truth, and the comparison (on version 2's settled test labels) reports the drop with an interval
that excludes zero. Skips without ../shared unless CONCORD_REQUIRE_SHARED=1.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.consistency.models import Conflict, ConflictState
from app.datasets import service as datasets_service
from app.datasets.schemas import FreezeIn
from app.modeling import attribution, compare, next_steps, service
from app.modeling.models import ModelRun, RunState
from app.review.models import FinalLabel
from app.review.queue import QueueFilters, queue_page
from tests.analysis.workload_db import LoadedProject, WorkloadFiles, load_project, read_workload
from tests.factories import make_member
from tests.support.shared import make_workload

IMAGES = 300
CONFUSED = "confuses-dent-pit"
CLASS_FREQ = "ok=0.4,scratch=0.15,dent=0.15,pit=0.2,discoloration=0.1"
SPLIT = {"train": 0.6, "val": 0.0, "test": 0.4, "seed": 3}


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> WorkloadFiles:
    out = tmp_path_factory.mktemp("loop-workload")
    return read_workload(make_workload(Path(out), IMAGES, "--seed", "11", "--class-freq", CLASS_FREQ))


@pytest.fixture
def own_db(fresh_engine: Engine) -> Iterator[Session]:
    """A database of this test's own: image ids start at 1 on both databases (on a shared Postgres
    database its sequences run on across tests), so the splits, which hash ids, are the same every run."""
    with fresh_engine.connect() as connection, connection.begin():
        session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False,
                          autoflush=False)
        yield session
        session.close()


@dataclass
class Loop:
    lp: LoadedProject
    admin: User
    wrong: dict[int, int]  # image id -> the wrong class id version 1 has


def decide(db: Session, lp: LoadedProject, labels: dict[int, int]) -> None:
    """A reviewer's decisions: the final labels of these images, and their conflicts resolved."""
    for final in db.scalars(select(FinalLabel).where(FinalLabel.image_id.in_(labels))):
        final.label_class_id, final.source, final.confidence = labels[final.image_id], "review", 1.0
    db.execute(update(Conflict).where(Conflict.project_id == lp.project.id, Conflict.state == ConflictState.open)
               .values(state=ConflictState.resolved))
    db.flush()


def freeze(db: Session, loop: Loop, name: str) -> int:
    spec = FreezeIn.model_validate({"name": name, "split": SPLIT})
    return datasets_service.freeze_version(db, project=loop.lp.project, spec=spec, user=loop.admin).id


def train(db: Session, app: FastAPI, loop: Loop, version_id: int) -> ModelRun:
    run = service.start_run(db, project_id=loop.lp.project.id, version_id=version_id, seed=0, user=loop.admin)
    service.train_run(db, storage=app.state.storage, run_id=run.id)
    assert run.state == RunState.done, run.error
    return run


def wrong_answers(workload: WorkloadFiles, lp: LoadedProject) -> dict[int, int]:
    """The wrong answers of the labeler who confuses dents and pits, on the images labelers disagreed on: what
    a reviewer who shares that confusion decides."""
    profiles = json.loads((workload.root / "annotators.json").read_text())
    confused = {email for email, p in profiles.items() if p["profile"] == CONFUSED}
    out = {}
    for name, image in lp.images.items():
        given = workload.answers.get(name, [])
        answers = Counter(choice for _, choice, _ in given)
        wrong = [c for e, c, _ in given if e in confused and c != workload.truth[name]]
        if len(answers) > 1 and wrong:
            out[image.id] = lp.class_ids[wrong[0]]
    return out


@pytest.mark.slow
def test_the_model_loop_finds_and_measures_wrongly_decided_labels(own_db: Session, app: FastAPI,
                                                                   workload: WorkloadFiles) -> None:
    db = own_db
    lp = load_project(db, app.state.storage, workload, batches_by_slice=False)
    loop = Loop(lp, make_member(db, lp.project, Role.admin), {})
    loop.wrong = wrong_answers(workload, lp)
    truth = {image.id: lp.class_ids[workload.truth[name]] for name, image in lp.images.items()}
    decide(db, lp, loop.wrong)
    a = train(db, app, loop, freeze(db, loop, "decided wrong"))

    steps = next_steps.next_steps(db, a)
    names = [w.title for w in steps.classes]
    print("next steps of the wrong run:", [(w.title, round(w.value, 3), w.n) for w in steps.classes],
          [(w.title, round(w.value, 3), w.n) for w in steps.slices[:4]])
    wrong_now = {f.image_id for f in db.scalars(select(FinalLabel).where(FinalLabel.image_id.in_(truth)))
                 if f.label_class_id != truth[f.image_id]}  # decided wrong, and the few the labelers all got wrong
    sent = next_steps.send_run_to_review(db, run=a, actor=loop.admin)
    page = queue_page(db, project_id=lp.project.id, filters=QueueFilters(kind="model_disagreement"), base_href="",
                      limit=1000)
    queue = [row.image.id for row in page.rows if row.image is not None]
    hits = sum(1 for i in queue[:len(wrong_now)] if i in wrong_now)
    print("queue:", "".join("x" if i in wrong_now else "." for i in queue))
    print(f"{len(loop.wrong)} wrong decisions, {len(wrong_now)} wrong labels; {sent.issues} issues sent; "
          f"top {len(wrong_now)} of the queue: {hits} wrong; in the queue: {len(wrong_now & set(queue))}")

    decide(db, lp, {i: truth[i] for i in loop.wrong})
    b = train(db, app, loop, freeze(db, loop, "decided by the truth"))
    result = compare.compare_runs(db, storage=app.state.storage, project_id=lp.project.id, a_id=a.id, b_id=b.id)
    body = result.as_dict()
    found = attribution.attribute(db, result)
    reference_truth = np.array([truth[int(i)] for i in result.reference.image_ids])
    print("compare:", body["n"], body["reference"], body["accuracy"], found.sentences[:3])
    assert np.mean(reference_truth == result.reference.label_ids) > 0.97  # the reference is (nearly) the truth
    assert body["accuracy"]["delta"]["low"] > 0, body["accuracy"]  # the drop is real: its interval excludes zero
    assert names[:2] == ["pit", "dent"], names
    assert sum(1 for i in queue[:10] if i in wrong_now) >= 8, queue[:10]  # measured: 9 of the first 10
    assert hits >= 0.5 * len(wrong_now), (hits, len(wrong_now))  # measured: 23 of the first 39 (13 % overall)
    assert steps.slices[0].title == "line L3"  # the line whose night shift's lamp fails
    assert found.relabeled == len(loop.wrong)
    pit = next(c for c in found.classes if c.name == "pit")
    assert found.classes[0] is pit and pit.recall is not None and pit.recall["delta"]["value"] > 0

"""Background consistency work that never stalls labelers (app/consistency/recompute.py, service.py):
labels do not trigger the near-duplicate search (new images do), a recompute leaves alone an image
relabeled while it ran, and label-triggered runs are paced."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.auth.models import Role
from app.consistency import recompute, service
from app.consistency.duplicates import signature
from app.consistency.models import AgreementSnapshot, Conflict, ImageConsensus
from app.core.db import make_sessionmaker
from app.images import service as images_service
from app.images.models import Image
from app.jobs.models import Job
from app.review.models import FinalLabel
from tests.consistency.test_duplicates import part
from tests.factories import class_named, make_annotation, make_image, make_member, make_project


@pytest.fixture
def setup(db):
    project = make_project(db, labels_per_image=3)
    labelers = [make_member(db, project, Role.inspector) for _ in range(3)]
    cls = {name: class_named(db, project, name) for name in ("ok", "scratch", "dent")}
    return db, project, labelers, cls


def test_labels_recheck_stored_groups_but_only_new_images_search_for_them(setup):
    db, project, (a, _, _), cls = setup
    shots = [part(dx=n % 2, seed=n) for n in range(3)]
    images = [make_image(db, project, phash=signature(im).hex()) for im in shots]
    for image in images:
        make_annotation(db, image, a, cls["scratch"])
    service.recompute_project(db, project_id=project.id, duplicates=False)  # what labels trigger
    assert {db.get(Image, i.id).duplicate_group_id for i in images} == {None}  # no search ran
    images_service.images_added(db, project_id=project.id)  # what an upload or import calls
    images_service.images_added(db, project_id=project.id)  # a second burst: still one job waiting
    jobs = db.scalars(select(Job).where(Job.project_id == project.id, Job.kind == service.DUPLICATES_JOB_KIND)).all()
    assert len(jobs) == 1 and jobs[0].run_after is not None and jobs[0].run_after > jobs[0].created_at
    service.refresh_duplicates(db, project_id=project.id)  # the job's work
    (group,) = {db.get(Image, i.id).duplicate_group_id for i in images}
    assert group is not None
    assert db.scalar(select(Conflict).where(Conflict.subject_key == f"group:{group}")) is None  # all agree
    final = db.scalar(select(FinalLabel).where(FinalLabel.image_id == images[2].id))
    final.label_class_id, final.source = cls["ok"].id, "review"  # a reviewer decides one of them otherwise
    db.flush()
    service.recompute_project(db, project_id=project.id, duplicates=False)
    conflict = db.scalar(select(Conflict).where(Conflict.subject_key == f"group:{group}"))
    assert conflict is not None and conflict.state == "open"  # stored groups' conflicts follow the labels


def test_a_recompute_leaves_an_image_relabeled_while_it_ran_as_the_submit_left_it(setup, monkeypatch):
    db, project, (a, b, c), cls = setup
    images = [make_image(db, project, labels_wanted=3) for _ in range(3)]
    for image in images:
        for labeler in (a, b):
            make_annotation(db, image, labeler, cls["dent"])
    judge = recompute.judge
    relabeled = images[1]

    def meanwhile(given, ctx, posterior):
        if given.image_id == relabeled.id and len(given.labels) == 2:
            # a third labeler answers between the recompute's read and its write; the submit's own
            # incremental update stores the three-label verdict
            service.on_new_annotation(db, make_annotation(db, relabeled, c, cls["ok"]))
        return judge(given, ctx, posterior)

    monkeypatch.setattr(recompute, "judge", meanwhile)
    service.recompute_project(db, project_id=project.id)
    assert db.get(ImageConsensus, relabeled.id).n_labels == 3  # not overwritten by the stale two-label verdict
    assert db.get(ImageConsensus, images[0].id).n_labels == 2


def test_label_triggered_runs_are_paced(setup):
    db, project, (a, _, _), cls = setup
    project.settings = {**(project.settings or {}), "recompute_every": 2}
    for _ in range(2):
        make_annotation(db, make_image(db, project), a, cls["ok"])
    assert service.recompute_due(db, project_id=project.id)  # never run: due at once
    service.recompute_project(db, project_id=project.id)
    for _ in range(3):
        make_annotation(db, make_image(db, project), a, cls["ok"])
    assert not service.recompute_due(db, project_id=project.id)  # enough labels, but the last run was just now
    snapshot = db.scalar(select(AgreementSnapshot).where(AgreementSnapshot.project_id == project.id))
    snapshot.created_at -= timedelta(seconds=service.RECOMPUTE_MIN_SECONDS + 1)
    snapshot.summary = {**snapshot.summary, "seconds": 0.1}
    db.flush()
    assert service.recompute_due(db, project_id=project.id)
    snapshot.summary = {**snapshot.summary, "seconds": 10.0}  # a run of 10 s waits 9 x 10 s after it
    db.flush()
    assert not service.recompute_due(db, project_id=project.id)


def test_a_recompute_sees_what_its_own_transaction_wrote_before_it(fresh_engine):
    # An import then a recompute in one transaction (the demo does this): a snapshot of another
    # connection would see no labels at all, so the recompute reads through the writing session.
    with make_sessionmaker(fresh_engine)() as db:
        project = make_project(db, labels_per_image=2)
        a, b = (make_member(db, project, Role.inspector) for _ in range(2))
        image = make_image(db, project, labels_wanted=2)
        make_annotation(db, image, a, class_named(db, project, "ok"))
        make_annotation(db, image, b, class_named(db, project, "dent"))  # not committed
        summary = service.recompute_project(db, project_id=project.id)
        assert summary["n_annotations"] == 2
        assert db.scalar(select(Conflict.kind).where(Conflict.image_id == image.id)) == "class_disagreement"

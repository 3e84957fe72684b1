"""The consistency service on the database (SQLite and Postgres): the incremental path, the conflict
lifecycle around reviewers' decisions, automatic final labels, and the global recompute."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from app.auth.models import Role, User
from app.consistency import service
from app.consistency.duplicates import signature
from app.consistency.models import AgreementSnapshot, Conflict, ImageConsensus, LabelerQuality
from app.images.models import Image
from app.labeling.models import Annotation, Assignment
from app.review.models import FinalLabel
from tests.consistency.test_duplicates import part
from tests.factories import class_named, make_annotation, make_final_label, make_image, make_member, make_project


@pytest.fixture
def setup(db):
    project = make_project(db, labels_per_image=3)
    labelers = [make_member(db, project, Role.inspector) for _ in range(4)]
    cls = {name: class_named(db, project, name) for name in ("ok", "scratch", "dent", "pit")}
    return db, project, labelers, cls


def label(db, image, labeler, cls, boxes=None):
    annotation = make_annotation(db, image, labeler, cls, boxes=boxes)
    service.on_new_annotation(db, annotation)
    return annotation


def relabel(db, old, cls, boxes=None):
    """A relabel as the labeling service writes it: the old answer leaves the live index first."""
    old.superseded_by_id = old.id
    db.flush()
    new = make_annotation(db, db.get(Image, old.image_id), db.get(User, old.labeler_id), cls, boxes=boxes)
    old.superseded_by_id = new.id
    db.flush()
    service.on_new_annotation(db, new)
    return new


def conflicts_of(db, image):
    return {c.kind: c for c in db.scalars(select(Conflict).where(Conflict.image_id == image.id))}


def final_of(db, image):
    return db.scalar(select(FinalLabel).where(FinalLabel.image_id == image.id))


def test_unanimous_labels_give_a_final_label_and_no_conflict(setup):
    db, project, (a, b, c, _), cls = setup
    image = make_image(db, project, labels_wanted=3)
    label(db, image, a, cls["scratch"])
    assert final_of(db, image) is None  # two more labels are wanted
    label(db, image, b, cls["scratch"])
    label(db, image, c, cls["scratch"])
    consensus = db.get(ImageConsensus, image.id)
    assert consensus.n_labels == 3 and consensus.consensus_class_id == cls["scratch"].id
    assert consensus.confidence == pytest.approx(1.0) and consensus.method == "majority"
    assert conflicts_of(db, image) == {}
    final = final_of(db, image)
    assert final.source == "unanimous" and final.label_class_id == cls["scratch"].id


def test_disagreement_opens_a_conflict_that_closes_when_the_labels_agree(setup):
    db, project, (a, b, c, _), cls = setup
    image = make_image(db, project, labels_wanted=3)
    label(db, image, a, cls["dent"])
    label(db, image, b, cls["pit"])
    third = label(db, image, c, cls["pit"])
    conflict = conflicts_of(db, image)["class_disagreement"]
    assert conflict.state == "open" and conflict.severity > 0
    assert conflict.details["votes"] == {str(cls["pit"].id): 2, str(cls["dent"].id): 1}
    assert "dent (1)" in conflict.details["reason"]
    assert final_of(db, image) is None
    relabel(db, third, cls["dent"])  # now 2 dent, 1 pit: still disputed, same row
    assert conflicts_of(db, image)["class_disagreement"].id == conflict.id
    first = db.scalar(select(Annotation).where(Annotation.image_id == image.id, Annotation.labeler_id == b.id,
                                               Annotation.superseded_by_id.is_(None)))
    relabel(db, first, cls["dent"])  # unanimous
    assert conflicts_of(db, image)["class_disagreement"].state == "closed"
    assert final_of(db, image).label_class_id == cls["dent"].id


def test_a_reviewers_decision_stands_until_newer_labels_disagree(setup):
    db, project, (a, b, c, d), cls = setup
    image = make_image(db, project, labels_wanted=3)
    label(db, image, a, cls["dent"])
    label(db, image, b, cls["pit"])
    conflict = conflicts_of(db, image)["class_disagreement"]
    conflict.state, conflict.resolved_at = "resolved", conflict.updated_at
    make_final_label(db, image, cls["dent"], source="review")
    db.flush()
    label(db, image, c, cls["dent"])  # agrees with the decision
    assert conflict.state == "resolved"
    assert final_of(db, image).source == "review"
    label(db, image, d, cls["pit"])  # a newer label disagrees with the decision
    assert conflict.state == "open"
    assert final_of(db, image).source == "review"  # never overwritten


def test_a_returned_conflict_waits_for_the_relabel(setup):
    db, project, (a, b, _, _), cls = setup
    image = make_image(db, project, labels_wanted=2)
    first = label(db, image, a, cls["ok"])
    label(db, image, b, cls["scratch"])
    conflict = conflicts_of(db, image)["class_disagreement"]
    conflict.state = "returned"
    returned = Assignment(project_id=project.id, image_id=image.id, labeler_id=a.id, state="returned")
    db.add(returned)
    db.flush()
    label(db, image, make_member(db, project), cls["ok"])  # someone else's label: still waiting
    assert conflict.state == "returned"
    returned.state = "done"
    relabel(db, first, cls["ok"])
    assert conflict.state == "open"


def test_gold_miss_and_gold_final_label(setup):
    db, project, (a, b, _, _), cls = setup
    image = make_image(db, project, labels_wanted=0, is_gold=True, gold_label_class_id=cls["pit"].id)
    label(db, image, a, cls["pit"])
    assert "gold_miss" not in conflicts_of(db, image)
    label(db, image, b, cls["ok"])
    gold = conflicts_of(db, image)["gold_miss"]
    assert gold.details["wrong"] == [{"labeler_id": b.id, "class_id": cls["ok"].id}]
    assert final_of(db, image).source == "gold" and final_of(db, image).label_class_id == cls["pit"].id


def test_box_conflicts_and_consensus_boxes(setup):
    db, project, (a, b, c, _), cls = setup
    image = make_image(db, project, labels_wanted=3)
    dent = cls["dent"].id
    box = {"x": 100, "y": 100, "w": 60, "h": 60, "class_id": dent}
    label(db, image, a, cls["dent"], [box, {"x": 300, "y": 300, "w": 5, "h": 5, "class_id": cls["pit"].id}])
    label(db, image, b, cls["dent"], [{**box, "x": 102}])
    label(db, image, c, cls["dent"], [{**box, "y": 98, "class_id": cls["pit"].id}])
    found = conflicts_of(db, image)
    assert set(found) == {"missing_box", "box_class_mismatch"}
    missing = found["missing_box"].details["clusters"][0]
    assert missing["labelers"] == [b.id, c.id]  # who did not draw the pit
    consensus = db.get(ImageConsensus, image.id)
    big = next(cl for cl in consensus.clusters if cl["w"] > 50)
    assert big["x"] == 100 and big["class_id"] == dent and big["support"] == 1.0
    assert 0 < consensus.box_agreement < 1


def test_recompute_fits_dawid_skene_and_the_incremental_path_uses_it(setup):
    db, project, labelers, cls = setup
    rng = np.random.default_rng(0)
    classes = [cls["ok"], cls["scratch"], cls["dent"], cls["pit"]]
    images = [make_image(db, project, labels_wanted=3) for _ in range(40)]
    for image in images:
        truth = int(rng.integers(0, 4))
        for n, labeler in enumerate(labelers[:3]):
            wrong = n == 2 and rng.random() < 0.4  # the third labeler is noisy
            make_annotation(db, image, labeler, classes[int(rng.integers(0, 4)) if wrong else truth])
    summary = service.recompute_project(db, project_id=project.id)
    assert summary["n_images"] == 40 and summary["n_annotations"] == 120
    snapshot = db.scalar(select(AgreementSnapshot).where(AgreementSnapshot.project_id == project.id))
    assert snapshot.alpha == pytest.approx(summary["alpha"]) and 0 < snapshot.alpha < 1
    assert snapshot.fleiss_kappa is not None and snapshot.summary["ds"]["converged"]
    quality = {q.user_id: q for q in db.scalars(select(LabelerQuality).where(LabelerQuality.project_id == project.id))}
    assert quality[labelers[2].id].accuracy < quality[labelers[0].id].accuracy
    assert quality[labelers[0].id].n_labels == 40 and len(quality[labelers[0].id].confusion) == 5
    consensus = db.get(ImageConsensus, images[0].id)
    assert consensus.method == "dawid_skene"
    again = service.recompute_project(db, project_id=project.id)  # re-running converges to the same rows
    assert again["conflicts"] == summary["conflicts"]
    fresh = make_image(db, project, labels_wanted=3)
    label(db, fresh, labelers[3], cls["pit"])  # a labeler the last run did not know: mean confusion
    assert db.get(ImageConsensus, fresh.id).method == "dawid_skene"


def test_recompute_finds_near_duplicate_groups_and_their_conflicts(setup):
    db, project, (a, _, _, _), cls = setup
    shots = [part(dx=n % 2, seed=n) for n in range(3)] + [part(size=(330, 180), seed=9)]
    images = [make_image(db, project, phash=signature(im).hex()) for im in shots]
    for image, name in zip(images, ["scratch", "scratch", "ok", "ok"], strict=True):
        make_annotation(db, image, a, cls[name])
    service.recompute_project(db, project_id=project.id)
    groups = {db.get(Image, i.id).duplicate_group_id for i in images[:3]}
    assert len(groups) == 1 and None not in groups and images[3].duplicate_group_id is None
    (group_id,) = groups
    conflict = db.scalar(select(Conflict).where(Conflict.subject_key == f"group:{group_id}"))
    assert conflict.kind == "duplicate_group" and conflict.state == "open"
    assert conflict.details["votes"] == {str(cls["scratch"].id): 2, str(cls["ok"].id): 1}
    service.recompute_project(db, project_id=project.id)
    assert images[0].duplicate_group_id == group_id  # stable across runs


def test_the_background_trigger_counts_new_labels(setup):
    db, project, (a, _, _, _), cls = setup
    project.settings = {**(project.settings or {}), "recompute_every": 3}
    for _ in range(2):
        make_annotation(db, make_image(db, project), a, cls["ok"])
    assert not service.recompute_due(db, project_id=project.id)
    make_annotation(db, make_image(db, project), a, cls["ok"])
    assert service.recompute_due(db, project_id=project.id)
    service.recompute_project(db, project_id=project.id)
    assert service.labels_since_last_run(db, project_id=project.id) == 0


def test_the_trigger_queues_one_recompute_job_that_the_runner_runs(setup, app):
    from app.jobs.models import Job
    from app.jobs.runner import run_queued

    db, project, (a, _, _, _), cls = setup
    project.settings = {**(project.settings or {}), "recompute_every": 2}
    for _ in range(2):
        make_annotation(db, make_image(db, project), a, cls["ok"])
    job = service.schedule_recompute_if_due(db, project_id=project.id)
    assert job is not None and job.kind == service.JOB_KIND
    assert service.schedule_recompute_if_due(db, project_id=project.id).id == job.id  # no second job
    assert run_queued(db, storage=app.state.storage, settings=app.state.settings, kinds=[service.JOB_KIND]) == 1
    done = db.get(Job, job.id)
    assert done.state == "done" and done.result["url"] == f"/projects/{project.id}/agreement"
    assert db.scalar(select(AgreementSnapshot).where(AgreementSnapshot.project_id == project.id)) is not None
    assert not service.recompute_due(db, project_id=project.id)


def test_a_slice_with_more_disagreement_needs_more_overlap(setup):
    db, project, (a, b, _, _), cls = setup
    for n in range(60):
        image = make_image(db, project, labels_wanted=2, meta={"line": "L3" if n < 25 else "L1"})
        label(db, image, a, cls["dent"])
        label(db, image, b, cls["pit"] if n < 15 or n % 10 == 0 else cls["dent"])
    assert service.slice_needs_overlap(db, project_id=project.id, meta={"line": "L3"})
    assert not service.slice_needs_overlap(db, project_id=project.id, meta={"line": "L1"})
    assert not service.slice_needs_overlap(db, project_id=project.id, meta={"line": "L2"})  # too few images

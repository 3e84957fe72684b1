"""Label issues: confident learning on a model trained in the test finds injected label errors, agrees with
cleanlab, and sends them to the review queue as model_disagreement conflicts (single labels too)."""
from __future__ import annotations

from collections.abc import Callable

import cleanlab.filter as cleanlab_filter
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.analysis import service
from app.auth.models import Role, User
from app.consistency.models import Conflict, ConflictKind, ConflictState
from app.images.models import Image
from app.review.models import FinalLabel
from tests.analysis.model import out_of_fold_probabilities
from tests.analysis.workload_db import WorkloadFiles, load_project
from tests.factories import class_named, make_annotation, make_image, make_member, make_project

N_INJECTED = 24


def predictions_csv(names: list[str], classes: list[str], probs: np.ndarray) -> bytes:
    lines = ["file_name," + ",".join(classes)]
    lines += [name + "," + ",".join(f"{p:.6f}" for p in row) for name, row in zip(names, probs, strict=True)]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.slow
def test_injected_errors_rank_near_the_top_and_agree_with_cleanlab(
        db: Session, app: FastAPI, workload: WorkloadFiles, workload_features: dict[str, np.ndarray],
        client_for: Callable[[User], TestClient]) -> None:
    lp = load_project(db, app.state.storage, workload, batches_by_slice=False, with_stats=True)
    classes, names = workload.classes, workload.files
    finals = {f.image_id: f for f in db.scalars(select(FinalLabel).join(Image, Image.id == FinalLabel.image_id)
                                                .where(Image.project_id == lp.project.id))}
    code = {cid: classes.index(name) for name, cid in lp.class_ids.items()}
    rng = np.random.default_rng(7)
    injected = set()
    for i in rng.choice(len(names), N_INJECTED, replace=False):  # a reviewer's slips: a wrong final label
        final = finals[lp.images[names[i]].id]
        wrong = [c for c in classes if c not in (workload.truth[names[i]], classes[code[final.label_class_id]])]
        final.label_class_id, final.source = lp.class_ids[str(rng.choice(wrong))], "review"
        injected.add(lp.images[names[i]].id)
    db.flush()
    labels = np.array([code[finals[lp.images[n].id].label_class_id] for n in names])
    x = np.stack([workload_features[n] for n in names])
    probs = out_of_fold_probabilities(x, labels, len(classes))

    admin = client_for(make_member(db, lp.project, Role.admin, password=None))
    imported = admin.post(f"/api/v1/projects/{lp.project.id}/predictions", data={"model": "logreg"},
                          files={"file": ("p.csv", predictions_csv(names, classes, probs))})
    assert imported.status_code == 201, imported.text
    body = admin.get(f"/api/v1/projects/{lp.project.id}/label-issues?limit=1000").json()
    ranked = [i["image_id"] for i in body["issues"]]
    wrong_now = {lp.images[n].id for n, lab in zip(names, labels, strict=True) if classes[lab] != workload.truth[n]}
    assert injected <= wrong_now
    top = ranked[:N_INJECTED]
    assert len(set(top) & wrong_now) >= 0.7 * N_INJECTED  # the top of the ranking is real label errors
    assert len(injected & set(ranked)) >= 0.7 * N_INJECTED  # and most injected errors are found
    assert np.median([ranked.index(i) for i in injected & set(ranked)]) < 2 * N_INJECTED
    theirs = cleanlab_filter.find_label_issues(labels, probs, filter_by="confident_learning",
                                               return_indices_ranked_by="self_confidence")
    theirs_ids = [lp.images[names[i]].id for i in theirs]
    assert len(set(ranked) & set(theirs_ids)) >= 0.9 * max(len(ranked), len(theirs_ids))
    assert len(set(ranked[:N_INJECTED]) & set(theirs_ids[:N_INJECTED])) >= 0.8 * N_INJECTED
    found_injected_by_them = injected & set(theirs_ids)
    assert len(found_injected_by_them & set(ranked)) >= 0.9 * len(found_injected_by_them)

    sent = admin.post(f"/api/v1/projects/{lp.project.id}/label-issues/send", json={})
    assert sent.status_code == 200 and sent.json()["created"] == len(ranked)
    conflicts = db.scalars(select(Conflict).where(Conflict.project_id == lp.project.id,
                                                  Conflict.kind == ConflictKind.model_disagreement)).all()
    assert {c.subject_key for c in conflicts} == {f"image:{i}" for i in ranked}
    worst = max(conflicts, key=lambda c: c.severity)
    assert worst.details["source"] == "confident_learning" and worst.details["model"] == "logreg"
    page = admin.get(f"/projects/{lp.project.id}/analysis/label-issues")
    assert page.status_code == 200 and page.text.count('class="issue-thumb"') == min(len(ranked), 200)
    assert "chart-heatmap" in page.text


def single_label_project(db: Session):
    project = make_project(db, classes=("ok", "scratch"))
    labeler = make_member(db, project, Role.inspector, password=None)
    ok, scratch = class_named(db, project, "ok"), class_named(db, project, "scratch")
    images = []
    for n in range(30):
        image = make_image(db, project)
        make_annotation(db, image, labeler, ok if n < 15 else scratch)  # one label each, no consensus yet
        images.append(image)
    rows = [{str(ok.id): 0.9, str(scratch.id): 0.1} if n < 15 else {str(ok.id): 0.1, str(scratch.id): 0.9}
            for n in range(30)]
    rows[3] = {str(ok.id): 0.04, str(scratch.id): 0.96}  # labeled ok; the model is sure it is a scratch
    return project, images, rows


def test_a_single_label_can_be_a_label_issue(db: Session) -> None:
    from app.analysis.models import ModelPrediction

    project, images, rows = single_label_project(db)
    for image, probs in zip(images, rows, strict=True):
        db.add(ModelPrediction(project_id=project.id, image_id=image.id, model_name="m", probabilities=probs))
    db.flush()
    report = service.find_issues(db, project_id=project.id)
    assert [i.image_id for i in report.issues] == [images[3].id]
    issue = report.issues[0]
    assert (issue.given, issue.suggested, issue.label_source, issue.n_labels) == ("ok", "scratch", "majority", 1)
    reviewer = make_member(db, project, Role.reviewer, password=None)
    first = service.send_to_review(db, project_id=project.id, actor=reviewer)
    assert (first.created, first.updated) == (1, 0)
    conflict = db.scalar(select(Conflict).where(Conflict.project_id == project.id))
    assert conflict.subject_key == f"image:{images[3].id}" and conflict.image_id == images[3].id
    assert conflict.kind == ConflictKind.model_disagreement and conflict.severity > 0
    again = service.send_to_review(db, project_id=project.id, actor=reviewer)
    assert (again.created, again.updated) == (0, 1)
    conflict.state = ConflictState.resolved  # a reviewer decided: sending again leaves it alone
    db.flush()
    assert service.send_to_review(db, project_id=project.id, actor=reviewer).kept_settled == 1
    conflict.state = ConflictState.open
    db.flush()
    fixed = db.scalar(select(ModelPrediction).where(ModelPrediction.image_id == images[3].id))
    fixed.probabilities = rows[0]  # a new model agrees with the label now
    db.flush()
    assert service.send_to_review(db, project_id=project.id, actor=reviewer).closed == 1
    db.refresh(conflict)
    assert conflict.state == ConflictState.closed


def test_no_predictions_and_roles(db: Session, client_for: Callable[[User], TestClient]) -> None:
    project, _, _ = single_label_project(db)
    inspector = client_for(make_member(db, project, Role.inspector, password=None))
    reviewer = client_for(make_member(db, project, Role.reviewer, password=None))
    assert inspector.get(f"/api/v1/projects/{project.id}/label-issues").status_code == 403
    empty = reviewer.get(f"/api/v1/projects/{project.id}/label-issues").json()
    assert empty["model_name"] is None and empty["issues"] == []
    sent = reviewer.post(f"/api/v1/projects/{project.id}/label-issues/send")
    assert sent.status_code == 422 and "import model predictions" in sent.json()["message"]
    assert reviewer.get(f"/api/v1/projects/{project.id}/label-issues?model=nope").status_code == 404
    assert reviewer.get(f"/projects/{project.id}/analysis/label-issues").status_code == 200

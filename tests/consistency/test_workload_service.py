"""The inspection workload through the real import path (Label Studio importer: images, metadata,
gold, every annotator's answer), then the global recompute on the database: the confused dent/pit
pair, the spammer and the lazy labeler ranked lowest, consensus better than the vote, the
near-duplicate groups found. 400 images, 6 annotators with a spammer, seed 0 (conftest.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from app.auth.models import User
from app.consistency.context import latest_snapshot
from app.consistency.models import Conflict, ConflictState, ImageConsensus, LabelerQuality
from app.consistency.service import recompute_project
from app.images import imports
from app.images.importers import labelstudio
from app.images.importers.paths import ImagesRoot
from app.images.models import Image
from app.projects.models import LabelClass
from tests.factories import make_project

pytestmark = pytest.mark.slow


@pytest.fixture
def imported(db, app, inspection_dir: Path):
    project = make_project(db, labels_per_image=3)
    with (inspection_dir / "metadata.csv").open() as handle:
        metadata = {row.pop("file_name"): row for row in csv.DictReader(handle)}
    imports.import_labelstudio(db, storage=app.state.storage, settings=app.state.settings, project=project,
                               parsed=labelstudio.load(inspection_dir / "tasks.labelstudio.json"),
                               root=ImagesRoot(inspection_dir), metadata=metadata,
                               gold=json.loads((inspection_dir / "gold.json").read_text()))
    db.flush()
    summary = recompute_project(db, project_id=project.id)
    return db, project, summary


def test_the_service_finds_what_the_workload_holds(imported, inspection_dir: Path):
    db, project, summary = imported
    assert summary["n_images"] == 400 and summary["n_annotations"] == 1200
    print("recompute seconds:", summary["seconds"])
    names = dict(db.execute(select(LabelClass.id, LabelClass.name).where(LabelClass.project_id == project.id)).all())

    snapshot = latest_snapshot(db, project.id)
    top = snapshot.summary["top_pairs"][0]
    assert {names[top["a"]], names[top["b"]]} == {"dent", "pit"}
    assert 0.3 < snapshot.alpha < 0.6 and snapshot.box_alpha is not None

    annotators = json.loads((inspection_dir / "annotators.json").read_text())
    profiles = {email: a["profile"] for email, a in annotators.items()}
    ranked = db.execute(select(User.email, LabelerQuality.accuracy, LabelerQuality.gold_count)
                        .join(User, User.id == LabelerQuality.user_id)
                        .where(LabelerQuality.project_id == project.id)
                        .order_by(LabelerQuality.accuracy)).all()
    assert [profiles[email] for email, _, _ in ranked[:2]] == ["spammer", "lazy-ok"]
    assert sum(gold for _, _, gold in ranked) == 3 * 8  # every gold image's three answers

    truth = json.loads((inspection_dir / "truth.coco.json").read_text())["image_labels"]
    rows = db.execute(select(Image.file_name, ImageConsensus.consensus_class_id, ImageConsensus.majority_class_id)
                      .join(ImageConsensus, ImageConsensus.image_id == Image.id)
                      .where(Image.project_id == project.id)).all()
    assert len(rows) == 400
    consensus_right = sum(names[c] == truth[f] for f, c, _ in rows)
    vote_right = sum(names[v] == truth[f] for f, _, v in rows)
    assert consensus_right > vote_right + 8  # Dawid-Skene beats the plain vote by > 2 %

    groups: dict[int, set[str]] = {}
    for file_name, group_id in db.execute(select(Image.file_name, Image.duplicate_group_id).where(
            Image.project_id == project.id, Image.duplicate_group_id.is_not(None))):
        groups.setdefault(group_id, set()).add(file_name)
    expected = {frozenset(g) for g in json.loads((inspection_dir / "near_duplicates.json").read_text())}
    assert expected <= {frozenset(g) for g in groups.values()}
    assert len(groups) <= len(expected) + 1

    kinds = {c.kind for c in db.scalars(select(Conflict).where(Conflict.project_id == project.id,
                                                                Conflict.state == ConflictState.open))}
    assert {"class_disagreement", "gold_miss", "missing_box", "box_class_mismatch"} <= kinds

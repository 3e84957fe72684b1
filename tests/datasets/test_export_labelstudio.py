"""The Label Studio and COCO exports go back in through our own importers and give the same labels."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.images.importers import coco as coco_parser
from app.images.importers import labelstudio
from app.images.importers.paths import ImagesRoot
from app.images.imports import import_coco, import_labelstudio
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.models import LabelClass
from tests.datasets.helpers import archive, export, freeze, names, truth
from tests.datasets.scene import build_scene
from tests.factories import make_project


def labels_of(db: Session, project_id: int) -> dict[str, tuple[str | None, list[tuple], dict]]:
    """Image sha256 -> (class name, sorted boxes as (class, x, y, w, h), metadata) of the live answers."""
    classes = {c.id: c.name for c in db.scalars(select(LabelClass).where(LabelClass.project_id == project_id))}
    rows = db.execute(select(Image, Annotation).join(Annotation, Annotation.image_id == Image.id)
                      .where(Image.project_id == project_id, Annotation.superseded_by_id.is_(None))).all()
    out = {}
    for image, answer in rows:
        assert image.sha256 not in out, "one answer per image: the final label"
        boxes = sorted((classes[b["class_id"]], b["x"], b["y"], b["w"], b["h"]) for b in answer.boxes)
        out[image.sha256] = (classes.get(answer.label_class_id), boxes, image.meta)
    return out


def assert_same_labels(db: Session, version, imported: dict[str, tuple], *, meta_too: bool = True) -> None:
    class_names = names(version)
    expected = truth(db, version)
    assert set(imported) == {image.sha256 for _, image in expected.values()}
    for item, image in expected.values():
        got_class, got_boxes, meta = imported[image.sha256]
        assert got_class == class_names.get(item.label_class_id)
        want = sorted((class_names[b["class_id"]], b["x"], b["y"], b["w"], b["h"]) for b in item.boxes)
        assert [g[0] for g in got_boxes] == [w[0] for w in want]
        for g, w in zip(got_boxes, want, strict=True):
            assert g[1:] == pytest.approx(w[1:], abs=0.01)
        if meta_too:  # Label Studio carries metadata in `data`; COCO has nowhere to put it
            assert {k: meta.get(k) for k in ("line", "camera", "shift")} == image.meta


def test_label_studio_export_round_trips_through_our_importer(db: Session, app, tmp_path: Path) -> None:
    storage = app.state.storage
    scene = build_scene(db, images=30, storage=storage)
    version = freeze(db, scene)
    archive(storage, export(db, storage, version, "labelstudio", images=True)).extractall(tmp_path)
    parsed = labelstudio.load(tmp_path / "tasks.json")
    assert len(parsed.tasks) == version.counts["items"] and parsed.ignored_results == 0
    target = make_project(db, classes=tuple(names(version).values()))
    report = import_labelstudio(db, storage=storage, settings=app.state.settings, project=target, parsed=parsed,
                                root=ImagesRoot(tmp_path))
    assert report.images_new == version.counts["items"]
    db.flush()
    assert_same_labels(db, version, labels_of(db, target.id))


def test_coco_export_round_trips_through_our_importer(db: Session, app, tmp_path: Path) -> None:
    storage = app.state.storage
    scene = build_scene(db, images=24, storage=storage)
    version = freeze(db, scene)
    archive(storage, export(db, storage, version, "coco", images=True)).extractall(tmp_path)
    target = make_project(db, classes=tuple(names(version).values()))
    for split in ("train", "val", "test"):
        path = tmp_path / "annotations" / f"instances_{split}.json"
        if path.exists():
            import_coco(db, storage=storage, settings=app.state.settings, project=target,
                        coco=coco_parser.load(path), root=ImagesRoot(tmp_path / "images"),
                        labeler_email="coco@example.com")
    db.flush()
    assert_same_labels(db, version, labels_of(db, target.id), meta_too=False)

"""The Label Studio and COCO exports go back in through our own importers and give the same labels."""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.datasets.schemas import WRITER_VERSION
from app.images.importers import coco as coco_parser
from app.images.importers import labelstudio
from app.images.importers.paths import ImagesRoot
from app.images.imports import import_coco, import_labelstudio
from app.images.models import Image
from app.labeling.models import Annotation
from app.projects.models import LabelClass
from tests.datasets.helpers import archive, export, freeze, manifest, names, truth
from tests.datasets.readers import label_studio_import_errors
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
    """Concord -> Label Studio -> Concord: Label Studio gives the annotation its importer as `completed_by`
    when it exports the tasks again; our importer then reads them back unchanged."""
    storage = app.state.storage
    scene = build_scene(db, images=30, storage=storage)
    version = freeze(db, scene)
    archive(storage, export(db, storage, version, "labelstudio", images=True)).extractall(tmp_path)
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    for task in tasks:
        for annotation in task["annotations"]:
            annotation["completed_by"] = {"id": 1, "email": "ls-admin@example.com"}
    (tmp_path / "tasks.json").write_text(json.dumps(tasks))
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


@pytest.mark.parametrize(("options", "expected", "root"), [
    ({}, "/data/local-files/?d=images/{name}", ""),
    ({"image_root": "/plant-a/line_3/v2/"}, "/data/local-files/?d=plant-a/line_3/v2/images/{name}",
     "plant-a/line_3/v2"),
    ({"image_source": "url", "image_root": "https://files.plant.local/v2/"}, "https://files.plant.local/v2/{name}",
     "https://files.plant.local/v2/"),
])
def test_a_stock_label_studio_takes_the_export_and_finds_the_images(db: Session, app, options, expected,
                                                                    root) -> None:
    storage = app.state.storage
    version = freeze(db, build_scene(db, images=30, storage=storage))
    made = export(db, storage, version, "labelstudio", images=True, **options)
    zf = archive(storage, made)
    tasks = json.loads(zf.read("tasks.json"))
    assert label_studio_import_errors(tasks, zf.read("labelstudio/config.xml").decode()) == []
    assert all("completed_by" not in a for t in tasks for a in t["annotations"])
    rows = manifest(zf)
    expected_items = truth(db, version)
    assert len(tasks) == len(expected_items)
    for task in tasks:
        image_id = task["data"]["concord_image_id"]
        name = rows[image_id]["path"].removeprefix("images/")
        assert task["data"]["image"] == expected.format(name=quote(name, safe="/"))
        assert task["data"]["split"] == expected_items[image_id][0].split  # the split travels with the task
        assert task["data"]["file_name"] == rows[image_id]["file_name"]
    assert made.options == {"writer": WRITER_VERSION, "image_source": options.get("image_source", "local_files"),
                            "image_root": root}


def test_our_checker_catches_what_label_studio_refuses() -> None:
    config = '<View><Image name="image" value="$image"/><Choices name="defect" toName="image"><Choice value="ok"/>' \
             '</Choices></View>'
    good = [{"data": {"image": "x.jpg"}, "annotations": [{"result": [
        {"from_name": "defect", "to_name": "image", "type": "choices", "value": {"choices": ["ok"]}}]}]}]
    assert label_studio_import_errors(good, config) == []
    assert label_studio_import_errors(
        [{**good[0], "annotations": [{**good[0]["annotations"][0],
                                      "completed_by": {"email": "final-label@concord.invalid"}}]}], config)
    assert label_studio_import_errors([{"data": {"img": "x.jpg"}}], config)
    assert label_studio_import_errors([{"data": {"image": "x"}, "annotations": [{"result": [
        {"from_name": "defect", "to_name": "image", "type": "choices", "value": {"choices": ["scratch"]}}]}]}], config)

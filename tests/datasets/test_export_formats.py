"""YOLO, Pascal VOC, CSV and ImageFolder exports read back with independent parsers, against the database."""
from __future__ import annotations

import csv
import hashlib
import io
from collections import Counter
from pathlib import Path

import pytest
import yaml
from defusedxml import ElementTree
from sqlalchemy.orm import Session

from tests.datasets.helpers import archive, export, freeze, manifest, names, stem, truth
from tests.datasets.scene import build_scene

SPLITS = ("train", "val", "test")


@pytest.fixture
def frozen(db: Session, app):
    scene = build_scene(db, images=60, storage=app.state.storage)
    return scene, freeze(db, scene)


def test_yolo_labels_and_data_yaml(db: Session, app, frozen) -> None:
    _, version = frozen
    zf = archive(app.state.storage, export(db, app.state.storage, version, "yolo"))
    data = yaml.safe_load(zf.read("data.yaml"))
    class_names = names(version)
    index = {name: i for i, name in data["names"].items()}
    assert data["nc"] == len(class_names) and set(index) == set(class_names.values())
    expected = truth(db, version)
    paths = {i: row["path"] for i, row in manifest(zf).items()}
    assert "path" not in data  # Ultralytics then roots the dataset at data.yaml's folder, from any directory
    for split in SPLITS:
        listed = zf.read(data[split]).decode().splitlines()
        assert listed == [f"./{paths[i]}" for i in sorted(expected) if expected[i][0].split == split]
        assert all(p.startswith(f"./images/{split}/") for p in listed)
    for image_id, (item, image) in expected.items():
        lines = zf.read(f"labels/{item.split}/{stem(paths[image_id])}.txt").decode().splitlines()
        got = []
        for line in lines:
            cls, cx, cy, w, h = line.split()
            w_px, h_px = float(w) * image.width, float(h) * image.height
            got.append((data["names"][int(cls)], float(cx) * image.width - w_px / 2,
                        float(cy) * image.height - h_px / 2, w_px, h_px))
            assert all(0.0 <= float(v) <= 1.0 for v in (cx, cy, w, h))
        want = [(class_names[b["class_id"]], b["x"], b["y"], b["w"], b["h"]) for b in item.boxes]
        assert [g[0] for g in sorted(got)] == [w[0] for w in sorted(want)]
        for g, w in zip(sorted(got), sorted(want), strict=True):
            assert g[1:] == pytest.approx(w[1:], abs=2e-3)


def test_voc_xml_parses_safely_and_matches(db: Session, app, frozen) -> None:
    _, version = frozen
    zf = archive(app.state.storage, export(db, app.state.storage, version, "voc"))
    class_names = names(version)
    expected = truth(db, version)
    paths = {i: row["path"] for i, row in manifest(zf).items()}
    assert zf.read("labels.txt").decode().splitlines() == list(class_names.values())
    for split in SPLITS:
        ids = zf.read(f"ImageSets/Main/{split}.txt").decode().split()
        assert ids == [stem(paths[i]) for i in sorted(expected) if expected[i][0].split == split]
    for image_id, (item, image) in expected.items():
        assert paths[image_id].startswith("JPEGImages/")
        root = ElementTree.fromstring(zf.read(f"Annotations/{stem(paths[image_id])}.xml"))
        assert root.findtext("filename") == paths[image_id].removeprefix("JPEGImages/")
        assert (int(root.findtext("size/width")), int(root.findtext("size/height"))) == (image.width, image.height)
        assert root.findtext("image_class") == class_names.get(item.label_class_id, "")
        got = sorted((o.findtext("name"), *(int(o.findtext(f"bndbox/{k}")) for k in ("xmin", "ymin", "xmax", "ymax")))
                     for o in root.iter("object"))
        # VOC is 1-based and inclusive: a reader subtracts 1 from xmin and ymin only
        want = sorted((class_names[b["class_id"]], b["x"] + 1, b["y"] + 1, b["x"] + b["w"], b["y"] + b["h"])
                      for b in item.boxes)
        assert [g[0] for g in got] == [w[0] for w in want]
        for g, w in zip(got, want, strict=True):
            assert g[1:] == pytest.approx(w[1:], abs=0.5 + 1e-9)  # whole pixels, rounded
            assert 1 <= g[1] <= g[3] <= image.width and 1 <= g[2] <= g[4] <= image.height


def test_csv_has_a_row_per_box_or_per_boxless_image(db: Session, app, frozen) -> None:
    _, version = frozen
    zf = archive(app.state.storage, export(db, app.state.storage, version, "csv"))
    rows = list(csv.DictReader(io.StringIO(zf.read("annotations.csv").decode())))
    expected = truth(db, version)
    class_names = names(version)
    assert len(rows) == sum(max(1, len(item.boxes)) for item, _ in expected.values())
    by_image: dict[int, list[dict[str, str]]] = {}
    for row in rows:
        by_image.setdefault(int(row["image_id"]), []).append(row)
    for image_id, (item, image) in expected.items():
        got = by_image[image_id]
        assert {r["split"] for r in got} == {item.split}
        assert {r["meta.line"] for r in got} == {image.meta["line"]}
        boxes = sorted((r["box_class"], float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"]))
                       for r in got if r["box_class"])
        assert boxes == sorted((class_names[b["class_id"]], b["x"], b["y"], b["w"], b["h"]) for b in item.boxes)


def test_imagefolder_with_images_extracts_into_class_folders(db: Session, app, frozen, tmp_path: Path) -> None:
    _, version = frozen
    zf = archive(app.state.storage, export(db, app.state.storage, version, "imagefolder", images=True))
    zf.extractall(tmp_path)
    folders = {row["folder"]: row["class"] for row in csv.DictReader(io.StringIO(zf.read("classes.csv").decode()))}
    expected = truth(db, version)
    class_names = names(version)
    by_path = {row["path"]: i for i, row in manifest(zf).items() if row["path"]}
    found = Counter()
    for split in SPLITS:
        for folder in (tmp_path / split).iterdir():
            for file in folder.iterdir():
                item, image = expected[by_path[f"{split}/{folder.name}/{file.name}"]]
                assert item.split == split and folders[folder.name] == class_names[item.label_class_id]
                assert hashlib.sha256(file.read_bytes()).hexdigest() == image.sha256
                found[folders[folder.name]] += 1
    assert found == Counter(class_names[item.label_class_id] for item, _ in expected.values())


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc", "csv", "labelstudio", "imagefolder"])
def test_archives_are_deterministic_and_hold_only_safe_names(db: Session, app, frozen, fmt: str) -> None:
    storage = app.state.storage
    _, version = frozen
    for images in (False, True):
        first = export(db, storage, version, fmt, images=images)
        sha, key = first.sha256, first.storage_key
        storage.delete(key)  # gone from storage: the next export makes it again, byte for byte
        again = export(db, storage, version, fmt, images=images)
        assert (again.sha256, again.storage_key) == (sha, key)
        with storage.open(key) as handle:
            assert hashlib.sha256(handle.read()).hexdigest() == sha
        zf = archive(storage, again)
        assert zf.testzip() is None
        for info in zf.infolist():
            parts = info.filename.split("/")
            assert not info.filename.startswith("/") and ".." not in parts and "\\" not in info.filename
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            kind = (info.external_attr >> 16) & 0o170000  # a regular file or a folder, never a symlink
            assert kind == (0o040000 if info.is_dir() else 0o100000)
            assert not info.is_dir() or fmt == "imagefolder"
        pictures = [n for n in zf.namelist() if n.endswith(".png")]
        assert len(pictures) == (0 if not images else sum(
            1 for item, _ in truth(db, version).values() if fmt != "imagefolder" or item.label_class_id))
        assert {"datasheet.md", "datasheet.json", "images.csv", "README.txt"} <= set(zf.namelist())

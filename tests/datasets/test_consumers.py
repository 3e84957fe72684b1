"""Every format read by the tools people train with, compared image by image and box by box with the
version's final labels: pycocotools and supervision (COCO), supervision and Ultralytics' data.yaml rules
(YOLO), supervision (Pascal VOC), torchvision's ImageFolder rules and Hugging Face `datasets`
(ImageFolder), Hugging Face `datasets` (CSV). torchvision and Ultralytics are too heavy for the suite:
tests/datasets/readers.py applies their rules, as their source states them.
"""
from __future__ import annotations

import csv
import io
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session

from app.projects.models import LabelClass
from tests.datasets.helpers import archive, export, freeze, manifest, names, truth
from tests.datasets.readers import image_folder, ultralytics_dataset
from tests.datasets.scene import build_scene

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # supervision warns that it runs without OpenCV (its NumPy fallback)
    import supervision as sv

SPLITS = ("train", "val", "test")


@pytest.fixture
def version_with_images(db: Session, app) -> Any:
    scene = build_scene(db, images=70, storage=app.state.storage)
    db.add(LabelClass(project_id=scene.project.id, name="rust", position=9))  # a class no image has yet
    db.flush()
    version = freeze(db, scene)
    return version, truth(db, version), names(version)


def unpack(db: Session, app, version, fmt: str, where: Path) -> dict[int, dict[str, str]]:
    zf = archive(app.state.storage, export(db, app.state.storage, version, fmt, images=True))
    zf.extractall(where)
    return manifest(zf)


def xyxy(item: Any, class_names: dict[int, str]) -> list[tuple[str, float, float, float, float]]:
    return sorted((class_names[b["class_id"]], b["x"], b["y"], b["x"] + b["w"], b["y"] + b["h"]) for b in item.boxes)


def same_boxes(got: list[tuple], want: list[tuple], tolerance: float) -> None:
    got, want = sorted(got), sorted(want)
    assert [g[0] for g in got] == [w[0] for w in want]
    for g, w in zip(got, want, strict=True):
        assert g[1:] == pytest.approx(w[1:], abs=tolerance)


def detections(dataset: Any, path: str) -> list[tuple[str, float, float, float, float]]:
    found = dataset.annotations[path]
    return [(dataset.classes[int(c)], *map(float, box)) for c, box in zip(found.class_id, found.xyxy, strict=True)]


def test_coco_in_supervision(db: Session, app, version_with_images, tmp_path: Path) -> None:
    version, expected, class_names = version_with_images
    rows = unpack(db, app, version, "coco", tmp_path)
    for split in version.counts["splits"]:
        if not version.counts["splits"][split]:
            continue
        annotations = tmp_path / "annotations" / f"instances_{split}.json"
        dataset = sv.DetectionDataset.from_coco(images_directory_path=str(tmp_path / "images"),
                                                annotations_path=str(annotations))
        in_split = {i: v for i, v in expected.items() if v[0].split == split}
        assert len(dataset) == len(in_split)
        for image_id, (item, _) in in_split.items():
            same_boxes(detections(dataset, str(tmp_path / rows[image_id]["path"])), xyxy(item, class_names), 1e-3)


def test_yolo_in_supervision_and_by_ultralytics_rules_from_another_directory(
        db: Session, app, version_with_images, tmp_path: Path) -> None:
    version, expected, class_names = version_with_images
    root = tmp_path / "export"
    rows = unpack(db, app, version, "yolo", root)
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    data = ultralytics_dataset(root / "data.yaml", cwd=elsewhere, datasets_dir=tmp_path / "datasets")
    assert list(data["names"].values()) == list(class_names.values())
    by_path = {os.path.realpath(root / r["path"]): i for i, r in rows.items()}
    for split in SPLITS:
        in_split = {i: v for i, v in expected.items() if v[0].split == split}
        pairs = data.get(split, [])
        assert sorted(by_path[os.path.realpath(image)] for image, _ in pairs) == sorted(in_split)
        for image, label in pairs:  # Ultralytics finds every image and its label file
            assert Path(image).is_file() and Path(label).is_file()
        if not in_split:
            continue
        dataset = sv.DetectionDataset.from_yolo(images_directory_path=str(root / "images" / split),
                                                annotations_directory_path=str(root / "labels" / split),
                                                data_yaml_path=str(root / "data.yaml"))
        for image_id, (item, _) in in_split.items():
            same_boxes(detections(dataset, str(root / rows[image_id]["path"])), xyxy(item, class_names), 2e-3 * 640)


def test_voc_in_supervision_is_one_based_and_maps_by_name(db: Session, app, version_with_images,
                                                          tmp_path: Path) -> None:
    version, expected, class_names = version_with_images
    rows = unpack(db, app, version, "voc", tmp_path)
    dataset = sv.DetectionDataset.from_pascal_voc(images_directory_path=str(tmp_path / "JPEGImages"),
                                                  annotations_directory_path=str(tmp_path / "Annotations"))
    assert len(dataset) == len(expected)
    for image_id, (item, _) in expected.items():
        # whole pixels: each edge within half a pixel (0-based would put xmin/ymin a pixel too far left/up)
        same_boxes(detections(dataset, str(tmp_path / rows[image_id]["path"])), xyxy(item, class_names), 0.5 + 1e-6)


def test_imagefolder_by_torchvisions_rules_means_the_same_indices_in_every_split(
        db: Session, app, version_with_images, tmp_path: Path) -> None:
    version, expected, class_names = version_with_images
    rows = unpack(db, app, version, "imagefolder", tmp_path)
    stated = {r["folder"]: int(r["index"]) for r in csv.DictReader(io.StringIO((tmp_path / "classes.csv").read_text()))}
    index_of = {name: i for i, name in enumerate(class_names.values())}
    by_path = {os.path.realpath(tmp_path / r["path"]): i for i, r in rows.items() if r["path"]}
    for split in SPLITS:
        if not (tmp_path / split).is_dir():
            continue
        class_to_idx, samples = image_folder(tmp_path / split, allow_empty=True)
        assert class_to_idx == stated  # every split: every class folder, sorted into the stated order
        for path, index in samples:
            item, _ = expected[by_path[os.path.realpath(path)]]
            assert item.split == split and index == index_of[class_names[item.label_class_id]]
        assert len(samples) == sum(1 for item, _ in expected.values() if item.split == split and item.label_class_id)
        with pytest.raises(FileNotFoundError, match="rust"):  # an empty class: refused, never silently renumbered
            image_folder(tmp_path / split)


def test_imagefolder_and_csv_in_hugging_face_datasets(db: Session, app, version_with_images, tmp_path: Path) -> None:
    from datasets import load_dataset

    version, expected, class_names = version_with_images
    unpack(db, app, version, "imagefolder", tmp_path / "if")
    loaded = load_dataset("imagefolder", data_dir=str(tmp_path / "if"), cache_dir=str(tmp_path / "hf"))
    stated = [r["folder"] for r in csv.DictReader(io.StringIO((tmp_path / "if" / "classes.csv").read_text()))]
    used = {class_names[i.label_class_id] for i, _ in expected.values() if i.label_class_id}
    names_in_order = [f for f, name in zip(stated, class_names.values(), strict=True) if name in used]
    splits = {"train": "train", "validation": "val", "test": "test"}
    for hf_split, ours in splits.items():
        in_split = [i for i, _ in expected.values() if i.split == ours and i.label_class_id]
        if not in_split:
            continue
        part = loaded[hf_split]
        assert part.features["label"].names == names_in_order  # the same order as classes.csv
        got = sorted(part.features["label"].int2str(label) for label in part["label"])
        want = sorted(stated[list(class_names).index(i.label_class_id)] for i in in_split)
        assert got == want
    unpack(db, app, version, "csv", tmp_path / "csv")
    table = load_dataset("csv", data_files=str(tmp_path / "csv" / "annotations.csv"), cache_dir=str(tmp_path / "hf"))
    rows = table["train"]
    for image_id, (item, _) in expected.items():
        mine = [i for i, v in enumerate(rows["image_id"]) if v == image_id]
        boxes = sorted((rows["box_class"][i], rows["x"][i], rows["y"][i], rows["w"][i], rows["h"][i]) for i in mine
                       if rows["box_class"][i])
        assert {rows["image_class"][i] for i in mine} == {class_names.get(item.label_class_id)}
        ordered = sorted(item.boxes, key=lambda b: (class_names[b["class_id"]], b["x"], b["y"]))
        assert np.allclose([b[1:] for b in boxes] or np.zeros((0, 4)),
                           [(b["x"], b["y"], b["w"], b["h"]) for b in ordered] or np.zeros((0, 4)))

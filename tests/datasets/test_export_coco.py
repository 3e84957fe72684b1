"""The COCO export, loaded with pycocotools, against the database: every image, count and box."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from pycocotools.coco import COCO
from sqlalchemy.orm import Session

from tests.datasets.helpers import archive, export, freeze, manifest, names, truth
from tests.datasets.scene import build_scene


def test_coco_export_matches_the_database(db: Session, app, tmp_path: Path) -> None:
    storage = app.state.storage
    scene = build_scene(db, images=80)
    version = freeze(db, scene)
    zf = archive(storage, export(db, storage, version, "coco"))
    zf.extractall(tmp_path)
    paths = {i: row["path"] for i, row in manifest(zf).items()}
    expected = truth(db, version)
    class_names = names(version)
    seen: set[int] = set()
    annotation_ids: list[int] = []
    for split in ("train", "val", "test"):
        path = tmp_path / "annotations" / f"instances_{split}.json"
        coco = COCO(str(path))
        in_split = {i: v for i, v in expected.items() if v[0].split == split}
        assert set(coco.getImgIds()) == set(in_split)
        categories = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
        assert sorted(categories.values()) == sorted(class_names.values())
        assert len(coco.getAnnIds()) == sum(len(item.boxes) for item, _ in in_split.values())
        annotation_ids += coco.getAnnIds()
        raw = json.loads(path.read_text())
        for image_id, (item, image) in in_split.items():
            record = coco.loadImgs(image_id)[0]
            assert (record["width"], record["height"]) == (image.width, image.height)
            assert paths[image_id] == f"images/{record['file_name']}"  # its own name; the id beside it
            assert record["class"] == class_names.get(item.label_class_id)
            assert raw["image_labels"].get(record["file_name"]) == class_names.get(item.label_class_id)
            anns = coco.loadAnns(coco.getAnnIds(image_id))
            got = sorted((categories[a["category_id"]], *a["bbox"]) for a in anns)
            want = sorted((class_names[b["class_id"]], b["x"], b["y"], b["w"], b["h"]) for b in item.boxes)
            assert [g[0] for g in got] == [w[0] for w in want]
            for (_, x, y, w, h), (_, wx, wy, ww, wh) in zip(got, want, strict=True):
                assert (x, y, w, h) == pytest.approx((wx, wy, ww, wh), abs=1e-9)
                assert x >= 0 and y >= 0 and x + w <= image.width + 1e-9 and y + h <= image.height + 1e-9
            for a in anns:  # a segmentation for annToMask and segm evaluation: the box as a polygon
                mask = coco.annToMask(a)
                assert mask.shape == (image.height, image.width)
                assert mask.sum() == pytest.approx(a["area"], rel=0.5, abs=a["bbox"][2] + a["bbox"][3] + 2)
            seen.add(image_id)
    assert seen == set(expected)
    assert len(annotation_ids) == len(set(annotation_ids)), "annotation ids collide across the split files"

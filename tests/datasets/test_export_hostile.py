"""Hostile class names and metadata: neutralised in CSV, escaped in XML/YAML/Markdown, never a path."""
from __future__ import annotations

import csv
import io
import json
import re

import yaml
from defusedxml import ElementTree
from sqlalchemy.orm import Session

from app.datasets.formats._cells import FORMULA_START
from tests.datasets.helpers import archive, export, freeze
from tests.datasets.scene import build_scene

HOSTILE = ('=HYPERLINK("http://evil.example","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
           "<script>alert(1)</script>", 'a&b "q" \'s', "../../etc/passwd", "bell\x07ring", "名前 ok")


def as_written(name: str) -> str:
    """What XML and YAML can carry: control characters become U+FFFD."""
    return re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "\ufffd", name)


def test_hostile_names_are_safe_in_every_format(db: Session, app) -> None:
    storage = app.state.storage
    scene = build_scene(db, images=40, class_names=HOSTILE, storage=storage)
    for image in scene.images:
        image.meta = {**image.meta, "line": "=cmd()", "operator": "@evil"}
    db.flush()
    version = freeze(db, scene)
    archives = {fmt: archive(storage, export(db, storage, version, fmt, images=True))
                for fmt in ("coco", "yolo", "voc", "csv", "labelstudio", "imagefolder")}

    rows = list(csv.reader(io.StringIO(archives["csv"].read("annotations.csv").decode())))
    header, body = rows[0], rows[1:]
    assert body
    for row in body:
        for value in row:
            assert not value.startswith(FORMULA_START), value
    col = {h: i for i, h in enumerate(header)}
    assert {r[col["meta.line"]] for r in body} == {"'=cmd()"}
    assert {r[col["image_class"]] for r in body} <= {("'" + n if n.startswith(FORMULA_START) else n) for n in HOSTILE}
    manifest = list(csv.reader(io.StringIO(archives["csv"].read("images.csv").decode())))
    assert all(not v.startswith(FORMULA_START) for row in manifest[1:] for v in row)

    voc = archives["voc"]
    objects = {o.findtext("name") for n in voc.namelist() if n.startswith("Annotations/")
               for o in ElementTree.fromstring(voc.read(n)).iter("object")}
    assert objects and objects <= {as_written(n) for n in HOSTILE}
    assert b"<script>" not in b"".join(voc.read(n) for n in voc.namelist() if n.endswith(".xml"))

    config = ElementTree.fromstring(archives["labelstudio"].read("labelstudio/config.xml"))
    assert [c.get("value") for c in config.iter("Choice")] == [as_written(n) for n in HOSTILE]
    tasks = json.loads(archives["labelstudio"].read("tasks.json"))
    assert {r["value"]["choices"][0] for t in tasks for r in t["annotations"][0]["result"]
            if r["type"] == "choices"} <= set(HOSTILE)

    data = yaml.safe_load(archives["yolo"].read("data.yaml"))
    assert list(data["names"].values()) == [as_written(n) for n in HOSTILE]
    coco = json.loads(archives["coco"].read("annotations/instances_train.json"))
    assert [c["name"] for c in coco["categories"]] == list(HOSTILE)

    for zf in archives.values():
        for name in zf.namelist():  # letters and digits of any script, _ . -; never a hidden or parent segment
            assert re.fullmatch(r"\w[\w.-]*(/\w[\w.-]*)*/?", name), name
            assert not any(c in name for c in "\\:*?\"<>|\u202e \x00")
    folders = {n.split("/")[1] for n in archives["imagefolder"].namelist() if n.startswith(("train/", "val/", "test/"))}
    assert folders and all(".." not in f and "/" not in f for f in folders)

    sheet = archives["coco"].read("datasheet.md").decode()
    assert "<script>" not in sheet and "&lt;script&gt;" in sheet

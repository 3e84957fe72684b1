"""COCO detection JSON, one file per split, plus each image's class.

`annotations/instances_<split>.json`: pycocotools-compatible `images`, `annotations`, `categories`.
An image's `id` is its Concord image id and its `file_name` its own (original) file name, as in
`images/` when the images are included. Every class is a category (id = position + 1), so an
image-level class such as `ok` has an id too: it is a category no box ever has (detectors see `ok`
images as background; classifiers read the image's class). Each image record also carries
`class`/`class_id` (its image-level class) and `split`, and the top-level `image_labels` maps file
name to class name, as the workload's `truth.coco.json` does. Each annotation has a `segmentation`:
the box as a polygon (`annToMask` and segm evaluation need the key). Annotation ids are unique
across the split files, so they can be merged. Written incrementally: three passes over the split's
items, one record at a time.
"""
from __future__ import annotations

import json
from typing import Any

from app.datasets.archive import Archive
from app.datasets.export_context import ExportContext, ExportItem

PASSES = 3


_dump = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def image_name(ctx: ExportContext, item: ExportItem) -> str | None:
    return f"images/{item.image_file}"


def write(ctx: ExportContext, out: Archive) -> None:
    for split in ctx.split_names():
        with out.text(f"annotations/instances_{split}.json", large=ctx.large) as f:
            f.write('{"info":' + _dump(_info(ctx, split)) + ",\n")
            f.write('"licenses":[],\n"categories":[\n')
            f.write(",\n".join(_dump({"id": c.index + 1, "name": c.name, "supercategory": "defect"})
                               for c in ctx.classes))
            f.write('\n],\n"images":[')
            _sequence(f, (_image(ctx, item) for item in ctx.items(split, boxes=False)))
            f.write('],\n"annotations":[')
            _sequence(f, _annotations(ctx, split))
            f.write('],\n"image_labels":{')
            first = True
            for item in ctx.items(split, boxes=False):
                name = ctx.class_name(item.class_id)
                if name is not None:
                    f.write(("\n" if first else ",\n") + _dump(item.image_file) + ":" + _dump(name))
                    first = False
            f.write("\n}}\n")


def _sequence(f: Any, records: Any) -> None:
    first = True
    for record in records:
        f.write(("\n" if first else ",\n") + _dump(record))
        first = False
    if not first:
        f.write("\n")


def _info(ctx: ExportContext, split: str) -> dict[str, Any]:
    version = ctx.version
    return {"description": f"{ctx.project_name}: {version.name} ({split})", "version": str(version.number),
            "year": version.created_at.year, "contributor": "Concord",
            "date_created": version.created_at.date().isoformat(), "content_hash": version.content_hash}


def _image(ctx: ExportContext, item: ExportItem) -> dict[str, Any]:
    frozen = ctx.by_id.get(item.class_id) if item.class_id is not None else None
    return {"id": item.image_id, "file_name": item.image_file, "width": item.width, "height": item.height,
            "split": item.split, "class": frozen.name if frozen else None,
            "class_id": frozen.index + 1 if frozen else None, "sha256": item.sha256}


def _annotations(ctx: ExportContext, split: str) -> Any:
    """Annotation records of the split; ids go on from the last split's (splits are written in order)."""
    next_id = ctx.memo.get("coco_next_id", 1)
    for item in ctx.items(split):
        for box in item.boxes:
            x0, y0, w, h = box["x"], box["y"], box["w"], box["h"]
            x1, y1 = round(x0 + w, 3), round(y0 + h, 3)
            yield {"id": next_id, "image_id": item.image_id, "category_id": ctx.by_id[box["class_id"]].index + 1,
                   "bbox": [x0, y0, w, h], "area": round(w * h, 3), "iscrowd": 0,
                   "segmentation": [[x0, y0, x1, y0, x1, y1, x0, y1]]}
            next_id += 1
    ctx.memo["coco_next_id"] = next_id

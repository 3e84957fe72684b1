"""Label Studio JSON (the "JSON" export format): one task per image with its final label as the
one annotation, and `labelstudio/config.xml`, the labeling config that reads it.

It imports into a stock Label Studio with no special settings: create a project with
labelstudio/config.xml as its labeling interface and import tasks.json. The annotation names no
annotator (Label Studio attributes it to the person importing; the final label is a decision, not
one person's answer) and is marked `ground_truth`. A task's `data` holds `image`, `split`
(train/val/test), `concord_image_id`, `file_name` (the uploader's name) and the image's metadata
(a metadata key that clashes with one of these becomes `meta_<key>`).

`data.image` is chosen at export time. Local files (the default): `/data/local-files/?d=<root>/images/
<name>`; unpack the archive into `<root>` under Label Studio's LOCAL_FILES_DOCUMENT_ROOT, start Label
Studio with LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true, and add a Local Files storage whose path is
that folder (Label Studio serves only files under a storage it knows). URL prefix: `<prefix><name>`,
for images served by any web server (the prefix points at the folder holding the image files).

The annotation holds one `choices` result (the image class, from `defect`) and a `rectanglelabels`
result per box (from `box`), with x/y/width/height in percent of the image (six decimals) and
`original_width`/`original_height` in pixels, as Label Studio writes them. Deterministic: ids come
from image ids, times from the version.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import quoteattr

from app.datasets.archive import Archive
from app.datasets.export_context import ExportContext, ExportItem
from app.datasets.formats._cells import xml_text

PASSES = 1
CHOICES, BOXES, TO_NAME = "defect", "box", "image"
LOCAL_FILES = "/data/local-files/?d="
RESERVED = ("image", "split", "concord_image_id", "file_name")


def image_name(ctx: ExportContext, item: ExportItem) -> str | None:
    return f"images/{item.image_file}"


def image_ref(ctx: ExportContext, item: ExportItem) -> str:
    """What Label Studio loads for the task's image (the export's `image_source` and `image_root`)."""
    return reference(ctx.options, item.image_file)


def reference(options: dict[str, Any], file_name: str) -> str:
    """`data.image` for an image named `file_name` in `images/`: a local-files path or a URL."""
    root: str = options.get("image_root", "")
    if options.get("image_source") == "url":
        return root + quote(file_name)
    path = f"{root}/images/{file_name}" if root else f"images/{file_name}"
    return LOCAL_FILES + quote(path, safe="/")


def _pct(value: float, whole: int) -> float:
    return round(100.0 * value / whole, 6)


def _data(ctx: ExportContext, item: ExportItem) -> dict[str, Any]:
    return task_data(image_ref(ctx, item), item.split, item.image_id, item.file_name, item.meta)


def task_data(image: str, split: str | None, image_id: int, file_name: str, meta: dict[str, Any]) -> dict[str, Any]:
    """A task's `data`: the image, its split, its Concord id and name, and its metadata (a key that
    clashes with one of those becomes `meta_<key>`)."""
    data: dict[str, Any] = {"image": image, **({"split": split} if split else {}), "concord_image_id": image_id,
                            "file_name": file_name}
    for key, value in sorted(meta.items()):
        if isinstance(value, str | int | float | bool):
            data[f"meta_{key}" if key in RESERVED or key.startswith("meta_") else key] = value
    return data


def results(key: str, class_name: str | None, boxes: list[dict[str, Any]], width: int, height: int,
            names: dict[int, str]) -> list[dict[str, Any]]:
    """An annotation's `result`: one `choices` (the image class) and one `rectanglelabels` per box, ids
    made from `key` (deterministic)."""
    result: list[dict[str, Any]] = []
    if class_name is not None:
        result.append({"id": f"c{key}", "type": "choices", "from_name": CHOICES, "to_name": TO_NAME,
                       "origin": "manual", "value": {"choices": [class_name]}})
    for n, box in enumerate(boxes):
        result.append({
            "id": f"b{key}_{n}", "type": "rectanglelabels", "from_name": BOXES, "to_name": TO_NAME,
            "origin": "manual", "original_width": width, "original_height": height, "image_rotation": 0,
            "value": {"x": _pct(box["x"], width), "y": _pct(box["y"], height),
                      "width": _pct(box["w"], width), "height": _pct(box["h"], height), "rotation": 0,
                      "rectanglelabels": [names[box["class_id"]]]},
        })
    return result


def task(ctx: ExportContext, item: ExportItem) -> dict[str, Any]:
    names = ctx.memo.setdefault("names", {c.id: c.name for c in ctx.classes})
    result = results(str(item.image_id), ctx.class_name(item.class_id), item.boxes, item.width, item.height, names)
    created = ctx.version.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "id": item.image_id,
        "data": _data(ctx, item),
        "annotations": [{
            "id": item.image_id, "result": result, "was_cancelled": False, "ground_truth": True,
            "created_at": created, "updated_at": created, "lead_time": 0, "result_count": len(result),
            "task": item.image_id,
        }],
        "predictions": [],
        "meta": {"concord_split": item.split, "concord_source": item.source, "sha256": item.sha256},
    }


def config_xml(ctx: ExportContext) -> str:
    return labeling_config([c.name for c in ctx.classes])


def labeling_config(class_names: list[str]) -> str:
    choices = "".join(f"\n    <Choice value={quoteattr(xml_text(c))}/>" for c in class_names)
    labels = "".join(f"\n    <Label value={quoteattr(xml_text(c))}/>" for c in class_names)
    return (f'<View>\n  <Image name="{TO_NAME}" value="$image"/>\n'
            f'  <Choices name="{CHOICES}" toName="{TO_NAME}" choice="single" showInline="true">{choices}\n'
            f'  </Choices>\n  <RectangleLabels name="{BOXES}" toName="{TO_NAME}">{labels}\n'
            f"  </RectangleLabels>\n</View>\n")


def write(ctx: ExportContext, out: Archive) -> None:
    out.add_text("labelstudio/config.xml", config_xml(ctx))
    with out.text("tasks.json", large=ctx.large) as f:
        first = True
        f.write("[")
        for item in ctx.items(meta=True):
            f.write(("\n" if first else ",\n") + json.dumps(task(ctx, item), ensure_ascii=False, separators=(",", ":")))
            first = False
        f.write("\n]\n")

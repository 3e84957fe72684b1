"""Label Studio JSON (the "JSON" export format): one task per image with its final label as the
one annotation, and `labelstudio/config.xml`, the labeling config that reads it.

A task's `data.image` is the image's path in the archive (`images/<id>.<ext>`); its metadata rides
in `data` too. The annotation holds one `choices` result (the image class, from `defect`) and a
`rectanglelabels` result per box (from `box`), with x/y/width/height in percent of the image
(six decimals) and `original_width`/`original_height` in pixels, as Label Studio writes them.
`completed_by` names a placeholder annotator (the final label is a decision, not one person's
answer), `ground_truth` is true. Deterministic: ids come from image ids, times from the version.
"""
from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import quoteattr

from app.datasets.archive import Archive
from app.datasets.export_context import ExportContext, ExportItem
from app.datasets.formats._cells import xml_text

PASSES = 1
CHOICES, BOXES, TO_NAME = "defect", "box", "image"
FINAL_ANNOTATOR = {"id": 1, "email": "final-label@concord.invalid", "first_name": "Concord", "last_name": "final label"}


def image_name(ctx: ExportContext, item: ExportItem) -> str | None:
    return f"images/{item.image_file}"


def _pct(value: float, whole: int) -> float:
    return round(100.0 * value / whole, 6)


def task(ctx: ExportContext, item: ExportItem) -> dict[str, Any]:
    result: list[dict[str, Any]] = []
    name = ctx.class_name(item.class_id)
    if name is not None:
        result.append({"id": f"c{item.image_id}", "type": "choices", "from_name": CHOICES, "to_name": TO_NAME,
                       "origin": "manual", "value": {"choices": [name]}})
    for n, box in enumerate(item.boxes):
        result.append({
            "id": f"b{item.image_id}_{n}", "type": "rectanglelabels", "from_name": BOXES, "to_name": TO_NAME,
            "origin": "manual", "original_width": item.width, "original_height": item.height, "image_rotation": 0,
            "value": {"x": _pct(box["x"], item.width), "y": _pct(box["y"], item.height),
                      "width": _pct(box["w"], item.width), "height": _pct(box["h"], item.height), "rotation": 0,
                      "rectanglelabels": [ctx.by_id[box["class_id"]].name]},
        })
    created = ctx.version.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    data = {k: v for k, v in sorted(item.meta.items()) if k != "image" and isinstance(v, str | int | float | bool)}
    return {
        "id": item.image_id,
        "data": {"image": image_name(ctx, item), **data},
        "annotations": [{
            "id": item.image_id, "completed_by": FINAL_ANNOTATOR, "result": result, "was_cancelled": False,
            "ground_truth": True, "created_at": created, "updated_at": created, "lead_time": 0,
            "result_count": len(result), "task": item.image_id,
        }],
        "predictions": [],
        "meta": {"concord_split": item.split, "concord_source": item.source, "sha256": item.sha256},
    }


def config_xml(ctx: ExportContext) -> str:
    choices = "".join(f"\n    <Choice value={quoteattr(xml_text(c.name))}/>" for c in ctx.classes)
    labels = "".join(f"\n    <Label value={quoteattr(xml_text(c.name))}/>" for c in ctx.classes)
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

"""CSV: one row per box, or one row with empty box fields for an image without boxes.

Columns: image_id, image (its path in the archive), split, width, height, image_class, box_class,
x, y, w, h (pixels, top-left corner), source, confidence, file_name (the uploader's name, as data),
then one `meta.<key>` column per metadata key the version was sliced by. Text that a spreadsheet
would run as a formula (starting with = + - @, tab or CR) is prefixed with an apostrophe.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app.datasets.archive import Archive
from app.datasets.export_context import ExportContext, ExportItem
from app.datasets.formats._cells import CsvRows, cell

PASSES = 1
HEADER = ["image_id", "image", "split", "width", "height", "image_class", "box_class", "x", "y", "w", "h",
          "source", "confidence", "file_name"]


def image_name(ctx: ExportContext, item: ExportItem) -> str | None:
    return f"images/{item.image_file}"


def meta_keys(ctx: ExportContext) -> list[str]:
    return sorted(ctx.version.counts.get("slices", {}))


def rows(ctx: ExportContext, item: ExportItem, keys: list[str]) -> Iterator[list[Any]]:
    head = [item.image_id, image_name(ctx, item), item.split, item.width, item.height,
            cell(ctx.class_name(item.class_id))]
    tail = [item.source, "" if item.confidence is None else item.confidence, cell(item.file_name)]
    tail += [cell(None if item.meta.get(k) is None else str(item.meta.get(k))) for k in keys]
    if not item.boxes:
        yield [*head, "", "", "", "", "", *tail]
    for box in item.boxes:
        yield [*head, cell(ctx.by_id[box["class_id"]].name), box["x"], box["y"], box["w"], box["h"], *tail]


def write(ctx: ExportContext, out: Archive) -> None:
    keys = meta_keys(ctx)
    with out.text("annotations.csv", large=ctx.large) as f:
        table = CsvRows(f)
        table.row(HEADER + [cell(f"meta.{k}") for k in keys])
        for item in ctx.items(meta=True):
            for row in rows(ctx, item, keys):
                table.row(row)
        table.flush()

"""YOLO detection (Ultralytics layout): `labels/<split>/<id>.txt`, `<split>.txt` lists and `data.yaml`.

A label line is `class cx cy w h`, normalised to the image size (0..1, six decimals); class ids
are the 0-based positions of `names` in data.yaml. An image without boxes gets an empty label
file (a background image). Images, when included, are `images/<split>/<id>.<ext>`.
"""
from __future__ import annotations

from app.datasets.archive import Archive
from app.datasets.export_context import ExportContext, ExportItem
from app.datasets.formats._cells import one_line, yaml_string

PASSES = 2


def image_name(ctx: ExportContext, item: ExportItem) -> str | None:
    return f"images/{item.split}/{item.image_file}"


def label_lines(ctx: ExportContext, item: ExportItem) -> str:
    lines = []
    for box in item.boxes:
        cx = (box["x"] + box["w"] / 2) / item.width
        cy = (box["y"] + box["h"] / 2) / item.height
        lines.append(f"{ctx.by_id[box['class_id']].index} {cx:.6f} {cy:.6f} "
                     f"{box['w'] / item.width:.6f} {box['h'] / item.height:.6f}\n")
    return "".join(lines)


def write(ctx: ExportContext, out: Archive) -> None:
    splits = ctx.split_names()
    out.add_text("data.yaml", _data_yaml(ctx, splits))
    for split in splits:
        with out.text(f"{split}.txt", large=ctx.large) as listing:
            for item in ctx.items(split, boxes=False):
                listing.write(f"./{image_name(ctx, item)}\n")
    for split in splits:
        for item in ctx.items(split):
            out.add_text(f"labels/{split}/{item.stem}.txt", label_lines(ctx, item))


def _data_yaml(ctx: ExportContext, splits: list[str]) -> str:
    version = ctx.version
    lines = [f"# Concord export: {one_line(ctx.project_name)}, version {version.number} ({one_line(version.name)})",
             f"# content hash {version.content_hash}", "path: .",]
    lines += [f"{split}: {split}.txt" for split in splits]
    lines += [f"nc: {len(ctx.classes)}", "names:"]
    lines += [f"  {c.index}: {yaml_string(c.name)}" for c in ctx.classes]
    return "\n".join(lines) + "\n"

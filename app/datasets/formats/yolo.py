"""YOLO detection (Ultralytics layout): `labels/<split>/<name>.txt`, `<split>.txt` lists and `data.yaml`.

A label line is `class cx cy w h`, normalised to the image size (0..1, six decimals); class ids
are the 0-based positions of `names` in data.yaml. Every class is a name, so an image-level class
such as `ok` (usually class 0) has an id that no box uses. An image without boxes gets an empty
label file (a background image). Images, when included, are `images/<split>/<name>` under their own
file names; Ultralytics finds each label file by swapping `images` for `labels` in the path.
data.yaml has no `path`: Ultralytics then takes the folder data.yaml is in as the dataset root, so
training works from any working directory. It names a list for train, val and test (an empty list
when the version has no image in that split).
"""
from __future__ import annotations

from app.datasets.archive import Archive
from app.datasets.export_context import ExportContext, ExportItem
from app.datasets.formats._cells import one_line, yaml_string
from app.datasets.splits import SPLITS

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
    out.add_text("data.yaml", _data_yaml(ctx))
    for split in SPLITS:
        with out.text(f"{split}.txt", large=ctx.large) as listing:
            for item in ctx.items(split, boxes=False) if split in splits else ():
                listing.write(f"./{image_name(ctx, item)}\n")
    for split in splits:
        for item in ctx.items(split):
            out.add_text(f"labels/{split}/{item.stem}.txt", label_lines(ctx, item))


def _data_yaml(ctx: ExportContext) -> str:
    version = ctx.version
    lines = [f"# Concord export: {one_line(ctx.project_name)}, version {version.number} ({one_line(version.name)})",
             f"# content hash {version.content_hash}",
             "# No `path`: the dataset root is the folder of this file, wherever it is run from.",
             "# Image-level classes without boxes (such as ok) keep their id; no label line uses it."]
    lines += [f"{split}: {split}.txt" for split in SPLITS]
    lines += [f"nc: {len(ctx.classes)}", "names:"]
    lines += [f"  {c.index}: {yaml_string(c.name)}" for c in ctx.classes]
    return "\n".join(lines) + "\n"

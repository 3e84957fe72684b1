"""ImageFolder for classification: `<split>/<NN_class>/<name>` (torchvision's layout).

torchvision numbers classes by sorting the folder names it finds in a split (`find_classes`). So
each class folder starts with its zero-padded index (`00_ok`, `01_scratch`, ...): sorting puts the
folders in the order `classes.csv` states, in every split. A split with no image of a class still
holds that class's folder (empty), so its indices mean the same as in the other splits: pass
`allow_empty=True` to torchvision's ImageFolder (0.18+), which otherwise refuses an empty class.
Images without an image-level class have no folder and are left out (listed in the manifest with
an empty path). With images referenced, `imagefolder.csv` says which image goes where.
"""
from __future__ import annotations

from app.datasets.archive import Archive
from app.datasets.export_context import ExportContext, ExportItem
from app.datasets.formats._cells import CsvRows, cell, csv_text, folder_names

PASSES = 1


def folders(ctx: ExportContext) -> dict[int, str]:
    """Class id -> folder name `<index>_<safe name>`, whose sort order is the index order."""
    if "folders" not in ctx.memo:
        width = max(2, len(str(len(ctx.classes) - 1)))
        names = folder_names([c.name for c in ctx.classes])
        ctx.memo["folders"] = {c.id: f"{c.index:0{width}d}_{name}" for c, name in zip(ctx.classes, names, strict=True)}
    folders_by_class: dict[int, str] = ctx.memo["folders"]
    return folders_by_class


def image_name(ctx: ExportContext, item: ExportItem) -> str | None:
    if item.class_id is None:
        return None
    return f"{item.split}/{folders(ctx)[item.class_id]}/{item.image_file}"


def write(ctx: ExportContext, out: Archive) -> None:
    names = folders(ctx)
    out.add_text("classes.csv", csv_text([["folder", "class", "index"],
                                          *([names[c.id], cell(c.name), c.index] for c in ctx.classes)]))
    per_class = ctx.version.counts.get("classes", {})
    for split in ctx.split_names():
        for c in ctx.classes:
            if not per_class.get(c.name, {}).get(split, 0) or not ctx.include_images:
                out.add_directory(f"{split}/{names[c.id]}")
    with out.text("imagefolder.csv", large=ctx.large) as f:
        table = CsvRows(f)
        table.row(["path", "image_id", "split", "class_folder", "sha256", "file_name"])
        for item in ctx.items(boxes=False):
            folder = names.get(item.class_id, "") if item.class_id is not None else ""
            table.row([image_name(ctx, item) or "", item.image_id, item.split, folder, item.sha256,
                       cell(item.file_name)])
        table.flush()

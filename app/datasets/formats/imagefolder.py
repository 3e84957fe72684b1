"""ImageFolder for classification: `<split>/<class folder>/<id>.<ext>` (torchvision's layout).

Class folders are safe names made from the class names (`classes.csv` maps folder to class);
images without an image-level class have no folder and are left out (listed in the manifest with
an empty folder). With images referenced, `imagefolder.csv` says which image goes where.
"""
from __future__ import annotations

from app.datasets.archive import Archive
from app.datasets.export_context import ExportContext, ExportItem
from app.datasets.formats._cells import CsvRows, cell, csv_text, folder_names

PASSES = 1


def folders(ctx: ExportContext) -> dict[int, str]:
    if "folders" not in ctx.memo:
        names = folder_names([c.name for c in ctx.classes])
        ctx.memo["folders"] = dict(zip((c.id for c in ctx.classes), names, strict=True))
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
    with out.text("imagefolder.csv", large=ctx.large) as f:
        table = CsvRows(f)
        table.row(["path", "image_id", "split", "class_folder", "sha256"])
        for item in ctx.items(boxes=False):
            folder = names.get(item.class_id, "") if item.class_id is not None else ""
            table.row([image_name(ctx, item) or "", item.image_id, item.split, folder, item.sha256])
        table.flush()

"""Pascal VOC XML: `Annotations/<id>.xml`, `ImageSets/Main/<split>.txt`, `labels.txt`.

Boxes are `xmin ymin xmax ymax` in whole pixels (rounded; 0-based, as most current readers
expect). User text (class names) goes through ElementTree, which escapes it; characters XML
cannot carry at all are replaced. Each annotation also names its image-level class in
`<image_class>`, which VOC readers ignore. Images, when included, are `images/<id>.<ext>`.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

from app.datasets.archive import Archive
from app.datasets.export_context import ExportContext, ExportItem
from app.datasets.formats._cells import one_line, xml_text

PASSES = 2


def image_name(ctx: ExportContext, item: ExportItem) -> str | None:
    return f"images/{item.image_file}"


def _sub(parent: ET.Element, tag: str, text: object) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = xml_text(str(text))
    return element


def annotation_xml(ctx: ExportContext, item: ExportItem) -> str:
    root = ET.Element("annotation")
    _sub(root, "folder", "images")
    _sub(root, "filename", item.image_file)
    source = ET.SubElement(root, "source")
    _sub(source, "database", "Concord")
    _sub(source, "annotation", f"version {ctx.version.number}")
    size = ET.SubElement(root, "size")
    _sub(size, "width", item.width)
    _sub(size, "height", item.height)
    _sub(size, "depth", 3)
    _sub(root, "segmented", 0)
    _sub(root, "image_class", ctx.class_name(item.class_id) or "")
    for box in item.boxes:
        obj = ET.SubElement(root, "object")
        _sub(obj, "name", ctx.by_id[box["class_id"]].name)
        _sub(obj, "pose", "Unspecified")
        _sub(obj, "truncated", 0)
        _sub(obj, "difficult", 0)
        bndbox = ET.SubElement(obj, "bndbox")
        x0, y0 = round(box["x"]), round(box["y"])
        x1 = max(round(box["x"] + box["w"]), x0 + 1)
        y1 = max(round(box["y"] + box["h"]), y0 + 1)
        for tag, value in (("xmin", x0), ("ymin", y0), ("xmax", min(x1, item.width)), ("ymax", min(y1, item.height))):
            _sub(bndbox, tag, value)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write(ctx: ExportContext, out: Archive) -> None:
    out.add_text("labels.txt", "".join(one_line(xml_text(c.name)) + "\n" for c in ctx.classes))
    for split in ctx.split_names():
        with out.text(f"ImageSets/Main/{split}.txt", large=ctx.large) as listing:
            for item in ctx.items(split, boxes=False):
                listing.write(item.stem + "\n")
    for item in ctx.items():
        out.add_text(f"Annotations/{item.stem}.xml", annotation_xml(ctx, item))

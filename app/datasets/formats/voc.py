"""Pascal VOC XML in the devkit's layout: `Annotations/<name>.xml`, `ImageSets/Main/<split>.txt`,
`JPEGImages/<name>.<ext>` (with images; they keep their own format and extension).

Boxes follow the devkit's convention: whole pixels, 1-based and inclusive, so a box covering
0-based pixels 10..16 (x = 10, w = 7) is `xmin 11`, `xmax 17`; readers (the devkit, detectron2,
supervision) subtract 1 from xmin/ymin and get the box back to within half a pixel (rounding).
User text (class names) goes through ElementTree, which escapes it; characters XML cannot carry at
all are replaced. Each annotation also names its image-level class in `<image_class>`, which VOC
readers ignore. The class list, in Concord's index order, is `labels.txt` (one name per line) and
`labelmap.txt` (CVAT/Datumaro's `name:r,g,b::` lines); readers that number classes themselves
(supervision sorts the names it meets) must be mapped by name.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

from app.datasets.archive import Archive
from app.datasets.export_context import ExportContext, ExportItem
from app.datasets.formats._cells import one_line, xml_text

PASSES = 2


def image_name(ctx: ExportContext, item: ExportItem) -> str | None:
    return f"JPEGImages/{item.image_file}"


def _sub(parent: ET.Element, tag: str, text: object) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = xml_text(str(text))
    return element


def bndbox(box: dict[str, float], width: int, height: int) -> tuple[int, int, int, int]:
    """(xmin, ymin, xmax, ymax), 1-based inclusive pixels inside the image, at least one pixel wide."""
    xmin = min(max(round(box["x"]) + 1, 1), width)
    ymin = min(max(round(box["y"]) + 1, 1), height)
    xmax = min(max(round(box["x"] + box["w"]), xmin), width)
    ymax = min(max(round(box["y"] + box["h"]), ymin), height)
    return xmin, ymin, xmax, ymax


def annotation_xml(ctx: ExportContext, item: ExportItem) -> str:
    root = ET.Element("annotation")
    _sub(root, "folder", "JPEGImages")
    _sub(root, "filename", item.image_file)
    source = ET.SubElement(root, "source")
    _sub(source, "database", "Concord")
    _sub(source, "annotation", f"version {ctx.version.number}")
    _sub(source, "image", f"concord image {item.image_id}")
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
        corners = ET.SubElement(obj, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), bndbox(box, item.width, item.height), strict=True):
            _sub(corners, tag, value)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _rgb(colour: str) -> str:
    text = colour.lstrip("#")
    try:
        return ",".join(str(int(text[i:i + 2], 16)) for i in (0, 2, 4))
    except ValueError:
        return "128,128,128"


def write(ctx: ExportContext, out: Archive) -> None:
    names = [one_line(xml_text(c.name)) for c in ctx.classes]
    out.add_text("labels.txt", "".join(n + "\n" for n in names))
    colours = {c["id"]: c.get("colour", "#808080") for c in ctx.version.datasheet.get("classes", [])}
    out.add_text("labelmap.txt", "# label:color_rgb:parts:actions\n" + "".join(
        f"{n.replace(':', '_')}:{_rgb(colours.get(c.id, '#808080'))}::\n" for n, c in zip(names, ctx.classes,
                                                                                          strict=True)))
    for split in ctx.split_names():
        with out.text(f"ImageSets/Main/{split}.txt", large=ctx.large) as listing:
            for item in ctx.items(split, boxes=False):
                listing.write(item.stem + "\n")
    for item in ctx.items():
        out.add_text(f"Annotations/{item.stem}.xml", annotation_xml(ctx, item))

"""COCO detection files, parsed into plain values (no database, no files).

`images` (id, file_name, width, height), `categories` (id, name) and `annotations` (image_id,
category_id, bbox = [x, y, w, h] in pixels, x/y the top-left corner) are read; segmentation and
keypoints are ignored. The image-level class comes from the optional top-level `image_labels` map
(file name -> class name, as make_inspection_set.py writes it); without it the importer decides
(see app/images/imports.py). Malformed input raises Invalid naming the field, and so does a class in
`image_labels` for a file name no image has (it would be dropped without a word).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.errors import Invalid
from app.images.importers.jsonfile import is_finite_number, read_json

SLACK_PX = 0.5
MAX_SIDE = 2**31 - 1  # px: what an image row holds


@dataclass(frozen=True)
class CocoBox:
    x: float
    y: float
    w: float
    h: float
    category: str


@dataclass
class CocoImage:
    coco_id: int
    file_name: str
    width: int | None
    height: int | None
    boxes: list[CocoBox] = field(default_factory=list)
    label: str | None = None  # from image_labels


@dataclass
class CocoSet:
    images: list[CocoImage]
    categories: dict[int, str]


def load(path: Path) -> CocoSet:
    data = read_json(path, field="coco")
    return parse(data)


def parse(data: Any) -> CocoSet:
    _require(isinstance(data, dict), "a COCO file is a JSON object", "coco")
    categories = _categories(data.get("categories"))
    images: dict[int, CocoImage] = {}
    raw_images = data.get("images")
    _require(isinstance(raw_images, list), "images must be a list", "images")
    for i, raw in enumerate(raw_images):
        image = _image(raw, f"images[{i}]")
        _require(image.coco_id not in images, f"image id {image.coco_id} appears twice", f"images[{i}].id")
        images[image.coco_id] = image
    raw_annotations = data.get("annotations", [])
    _require(isinstance(raw_annotations, list), "annotations must be a list", "annotations")
    for i, raw in enumerate(raw_annotations):
        where = f"annotations[{i}]"
        _require(isinstance(raw, dict), "an annotation must be an object", where)
        owner = _lookup(images, raw.get("image_id"))
        _require(owner is not None, f"image_id {raw.get('image_id')!r} is not in images", f"{where}.image_id")
        category = _lookup(categories, raw.get("category_id"))
        _require(
            category is not None, f"category_id {raw.get('category_id')!r} is not in categories", f"{where}.category_id"
        )
        assert owner is not None and category is not None
        owner.boxes.append(_bbox(raw.get("bbox"), category, owner, f"{where}.bbox"))
    labels = data.get("image_labels", {})
    _require(isinstance(labels, dict), "image_labels must map file names to class names", "image_labels")
    by_name: dict[str, list[CocoImage]] = {}
    for image in images.values():
        by_name.setdefault(image.file_name, []).append(image)
    for name, label in labels.items():
        _require(isinstance(label, str) and label.strip() != "", "a class name must be text", f"image_labels.{name}")
        _require(name in by_name, "names no image of this file (its class would be lost)", f"image_labels.{name}")
        for image in by_name[name]:
            image.label = label.strip()
    return CocoSet(images=list(images.values()), categories=categories)


def _categories(raw: Any) -> dict[int, str]:
    _require(isinstance(raw, list) and len(raw) > 0, "categories must be a non-empty list", "categories")
    out: dict[int, str] = {}
    for i, item in enumerate(raw):
        _require(
            isinstance(item, dict) and _is_int(item.get("id")), "a category needs an integer id", f"categories[{i}].id"
        )
        name = item.get("name")
        _require(isinstance(name, str) and name.strip() != "", "a category needs a name", f"categories[{i}].name")
        out[int(item["id"])] = name.strip()
    return out


def _image(raw: Any, where: str) -> CocoImage:
    _require(isinstance(raw, dict), "an image must be an object", where)
    _require(_is_int(raw.get("id")), "an image needs an integer id", f"{where}.id")
    name = raw.get("file_name")
    _require(isinstance(name, str) and name.strip() != "", "an image needs a file_name", f"{where}.file_name")
    sizes = []
    for key in ("width", "height"):
        value = raw.get(key)
        _require(
            value is None or (_is_int(value) and 0 < value <= MAX_SIDE),
            f"{key} must be a positive integer of at most {MAX_SIDE}",
            f"{where}.{key}",
        )
        sizes.append(value)
    return CocoImage(coco_id=int(raw["id"]), file_name=name.strip(), width=sizes[0], height=sizes[1])


def _bbox(raw: Any, category: str, image: CocoImage, where: str) -> CocoBox:
    _require(isinstance(raw, list) and len(raw) == 4, "bbox must be [x, y, width, height]", where)
    for k, value in enumerate(raw):
        _require(
            is_finite_number(value),
            "bbox values must be finite numbers",
            f"{where}[{k}]",
        )
    x, y, w, h = (float(v) for v in raw)
    _require(w > 0 and h > 0, "a box needs a positive width and height", f"{where}[2]")
    _require(x >= -SLACK_PX and y >= -SLACK_PX, "a box must start inside the image", f"{where}[0]")
    if image.width is not None and image.height is not None:
        _require(
            x + w <= image.width + SLACK_PX and y + h <= image.height + SLACK_PX,
            f"the box ends outside the {image.width} x {image.height} image",
            where,
        )
    return CocoBox(x=max(0.0, x), y=max(0.0, y), w=w, h=h, category=category)


def _lookup(found: dict[Any, Any], key: Any) -> Any:
    """`found[key]`, or None for a missing key or one that cannot be a key (a list, an object)."""
    return found.get(key) if isinstance(key, int | float | str) else None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require(condition: bool, message: str, where: str) -> None:
    if not condition:
        raise Invalid(f"{where}: {message}", field=where)

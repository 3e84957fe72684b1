"""The rules of readers too heavy for the test suite, written out from their source, and what a stock
Label Studio 1.23.2 requires of an import.

- torchvision's ImageFolder (torchvision/datasets/folder.py, `find_classes` and `make_dataset`,
  0.18+): the classes of a root are its sub-folders, sorted by name; index = position in that order;
  samples are the files under each class folder (os.walk, sorted) whose lower-cased name ends in one
  of IMG_EXTENSIONS; a class folder without a valid file raises FileNotFoundError unless
  `allow_empty=True`.
- Ultralytics' data.yaml (ultralytics/data/utils.py `check_det_dataset`, `img2label_paths`;
  ultralytics/data/base.py `get_img_files`): the dataset root is `path` when given (relative to the
  working directory, else to DATASETS_DIR), otherwise the folder of the yaml file; `train`/`val`/`test`
  are joined to it; `train` and `val` are required; a `.txt` list names one image per line, a line
  starting with `./` relative to the list's folder; an image's label file is its path with the last
  `/images/` replaced by `/labels/` and the extension by `.txt`; `names` must have `nc` entries.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import yaml

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
ULTRALYTICS_IMG_FORMATS = {"bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp", "pfm", "heic"}


def image_folder(root: Path, *, allow_empty: bool = False) -> tuple[dict[str, int], list[tuple[str, int]]]:
    """(class_to_idx, samples) as torchvision's ImageFolder(root, allow_empty=...) builds them."""
    classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    if not classes:
        raise FileNotFoundError(f"Couldn't find any class folder in {root}.")
    class_to_idx = {name: i for i, name in enumerate(classes)}
    samples, available = [], set()
    for target in sorted(class_to_idx):
        for folder, _, files in sorted(os.walk(root / target, followlinks=True)):
            for name in sorted(files):
                if name.lower().endswith(IMG_EXTENSIONS):
                    samples.append((os.path.join(folder, name), class_to_idx[target]))
                    available.add(target)
    empty = set(class_to_idx) - available
    if empty and not allow_empty:
        raise FileNotFoundError(f"Found no valid file for the classes {', '.join(sorted(empty))}.")
    return class_to_idx, samples


def ultralytics_dataset(yaml_file: Path, *, cwd: Path, datasets_dir: Path) -> dict[str, Any]:
    """{"names": {id: name}, split: [(image path, label path), ...]} as Ultralytics resolves data.yaml,
    with `yaml_file` given relative to `cwd` (the working directory a user trains from)."""
    relative = Path(os.path.relpath(yaml_file, cwd))
    data = yaml.safe_load((cwd / relative).read_text())
    for key in ("train", "val"):
        assert key in data, f"data.yaml has no '{key}:' (Ultralytics requires train and val)"
    assert len(data["names"]) == data["nc"], "names and nc disagree"
    root = Path(data.get("path") or relative.parent)
    if not (cwd / root).exists() and not root.is_absolute():
        root = datasets_dir / root
    root = cwd / root
    out: dict[str, Any] = {"names": dict(data["names"].items()) if isinstance(data["names"], dict)
                           else dict(enumerate(data["names"]))}
    for split in ("train", "val", "test"):
        if not data.get(split):
            continue
        listing = (root / data[split]).resolve()
        if not listing.exists():
            raise FileNotFoundError(f"{split}: {listing} does not exist")
        lines = [x.strip() for x in listing.read_text().splitlines() if x.strip()]
        parent = str(listing.parent) + os.sep
        images = [x.replace("./", parent, 1) if x.startswith("./") else x for x in lines]
        images = [x for x in images if x.rpartition(".")[2].lower() in ULTRALYTICS_IMG_FORMATS]
        sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
        out[split] = [(x, sb.join(x.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt") for x in images]
    return out


# --- Label Studio 1.23.2 ---------------------------------------------------------------------------------

_TAG = re.compile(r"^(Choices|RectangleLabels|Image)$")


def label_studio_config(config_xml: str) -> dict[str, Any]:
    """The parts of a labeling config an import is checked against: control tags and their values."""
    root = ElementTree.fromstring(config_xml)
    controls: dict[str, dict[str, Any]] = {}
    objects: dict[str, str] = {}
    for element in root.iter():
        if element.tag == "Image":
            objects[element.get("name", "")] = element.get("value", "").lstrip("$")
        elif _TAG.match(element.tag):
            child = "Choice" if element.tag == "Choices" else "Label"
            controls[element.get("name", "")] = {
                "type": element.tag.lower(), "to_name": element.get("toName"),
                "values": {c.get("value") for c in element.iter(child)}}
    return {"controls": controls, "objects": objects}


def label_studio_import_errors(tasks: Any, config_xml: str, *, known_emails: frozenset[str] = frozenset()) -> list[str]:
    """Why a stock Label Studio 1.23.2 would refuse this import or take it and show it wrong.

    Refused with HTTP 400, nothing imported (checked by hand against Label Studio 1.23.2, see the
    README): a task whose `data` lacks an object tag's `$value` key; an annotation whose `completed_by`
    names an e-mail with no account there (`known_emails`; absent is fine: the importer gets it).
    Taken silently but wrong (1.23.2 does not check results against the config, so the same hand
    check imported them): a result whose from_name/to_name/type is not a control of the config, a
    choice or label that is not one of its values, a rectangle outside 0..100 %. An empty list means
    it imports and shows what the file says."""
    config = label_studio_config(config_xml)
    errors: list[str] = []
    if not isinstance(tasks, list):
        return ["the file is not a list of tasks"]
    for n, task in enumerate(tasks):
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict):
            errors.append(f"task {n}: no data object")
            continue
        for key in config["objects"].values():
            if key not in data:
                errors.append(f"task {n}: data has no {key!r}")
        for annotation in task.get("annotations", []):
            errors += _annotation_errors(n, annotation, config, known_emails)
    return errors


def _annotation_errors(n: int, annotation: dict[str, Any], config: dict[str, Any], known: frozenset[str]) -> list[str]:
    errors = []
    who = annotation.get("completed_by")
    if who is not None:
        email = who.get("email") if isinstance(who, dict) else None
        if email not in known:
            errors.append(f"task {n}: Unknown annotator's email {email!r}")
    for result in annotation.get("result", []):
        control = config["controls"].get(result.get("from_name"))
        if control is None or control["to_name"] != result.get("to_name") or control["type"] != result.get("type"):
            errors.append(f"task {n}: result {result.get('id')} does not match the config")
            continue
        value = result.get("value", {})
        chosen = value.get("choices", []) if control["type"] == "choices" else value.get("rectanglelabels", [])
        if not set(chosen) <= control["values"]:
            errors.append(f"task {n}: {chosen} not in the config")
        if control["type"] == "rectanglelabels":
            x, y, w, h = (float(value[k]) for k in ("x", "y", "width", "height"))
            if min(x, y, w, h) < 0 or x + w > 100 + 1e-6 or y + h > 100 + 1e-6:
                errors.append(f"task {n}: rectangle outside 0..100 %")
    return errors

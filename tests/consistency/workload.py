"""Read a make_inspection_set.py folder straight into arrays (no database), for the maths tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.consistency.metrics import Triples, make_triples


@dataclass(frozen=True)
class WorkloadBoxes:
    """All answer boxes, flat: image code, labeler code, xywh in pixels, class code."""

    image: np.ndarray
    labeler: np.ndarray
    xywh: np.ndarray
    cls: np.ndarray


@dataclass(frozen=True)
class Workload:
    root: Path
    classes: list[str]  # manifest order: ok first, then the defects
    files: list[str]  # image code -> file name
    emails: list[str]  # labeler code -> email
    profiles: list[str]  # labeler code -> profile name
    triples: Triples  # image-class answers
    truth: np.ndarray  # true class code per image
    boxes: WorkloadBoxes
    truth_boxes: dict[int, tuple[np.ndarray, np.ndarray]]  # image -> (xywh, class code)
    near_duplicates: list[list[int]]  # groups of image codes
    gold: dict[int, int]  # image code -> true class code

    def labeler(self, profile: str) -> int:
        return self.profiles.index(profile)


def load_workload(root: Path) -> Workload:
    manifest = json.loads((root / "manifest.json").read_text())
    classes = list(manifest["classes"])
    code = {name: k for k, name in enumerate(classes)}
    tasks = json.loads((root / "tasks.labelstudio.json").read_text())
    annotators = json.loads((root / "annotators.json").read_text())
    emails = sorted(annotators, key=lambda e: annotators[e]["user_id"])
    lab_code = {e: n for n, e in enumerate(emails)}
    files = [Path(t["data"]["image"]).name for t in tasks]
    image_code = {f: n for n, f in enumerate(files)}
    items, labelers, labels = [], [], []
    b_img, b_lab, b_xywh, b_cls = [], [], [], []
    for n, task in enumerate(tasks):
        for ann in task["annotations"]:
            who = lab_code[ann["completed_by"]["email"]]
            for r in ann["result"]:
                if r["type"] == "choices":
                    items.append(n)
                    labelers.append(who)
                    labels.append(code[r["value"]["choices"][0]])
                elif r["type"] == "rectanglelabels":
                    v, w, h = r["value"], r["original_width"], r["original_height"]
                    b_img.append(n)
                    b_lab.append(who)
                    b_xywh.append([v["x"] * w / 100, v["y"] * h / 100, v["width"] * w / 100,
                                   v["height"] * h / 100])
                    b_cls.append(code[v["rectanglelabels"][0]])
    coco = json.loads((root / "truth.coco.json").read_text())
    cat = {c["id"]: code[c["name"]] for c in coco["categories"]}
    truth_boxes: dict[int, tuple[list, list]] = {}
    for a in coco["annotations"]:
        xs, cs = truth_boxes.setdefault(a["image_id"] - 1, ([], []))
        xs.append(a["bbox"])
        cs.append(cat[a["category_id"]])
    gold = {image_code[g["file_name"]]: code[g["class"]] for g in json.loads((root / "gold.json").read_text())}
    dups = [[image_code[f] for f in g] for g in json.loads((root / "near_duplicates.json").read_text())]
    return Workload(
        root=root, classes=classes, files=files, emails=emails,
        profiles=[annotators[e]["profile"] for e in emails],
        triples=make_triples(items, labelers, labels, n_items=len(files), n_labelers=len(emails),
                             n_classes=len(classes)),
        truth=np.array([code[coco["image_labels"][f]] for f in files]),
        boxes=WorkloadBoxes(np.array(b_img, dtype=np.int64), np.array(b_lab, dtype=np.int64),
                            np.array(b_xywh, dtype=float).reshape(-1, 4), np.array(b_cls, dtype=np.int64)),
        truth_boxes={k: (np.array(v[0], dtype=float), np.array(v[1])) for k, v in truth_boxes.items()},
        near_duplicates=dups, gold=gold,
    )


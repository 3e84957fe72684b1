"""Simulated inspectors with known habits, answering demo scenes (what a calibration round looks like)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.demo.scenes import CLASSES, HEIGHT, WIDTH, Scene


@dataclass(frozen=True)
class Profile:
    email: str
    name: str
    accuracy: float  # chance of naming the true class (before the habits below)
    box_jitter: float  # std-dev of each box edge, as a fraction of the box side (plus 1 px)
    miss_box: float  # chance of not drawing a box
    dent_pit_swap: float = 0.0  # calls a pit a dent (and a dent a pit, half as often)
    lazy_ok: float = 0.0  # answers "ok" on a defective image
    seconds: float = 12.0  # median time per image


PROFILES = (
    Profile("mara.careful@demo.concord", "Mara (careful)", 0.97, 0.03, 0.02, seconds=22),
    Profile("tom.normal@demo.concord", "Tom", 0.91, 0.06, 0.06, seconds=14),
    Profile("lea.dentpit@demo.concord", "Lea", 0.93, 0.05, 0.05, dent_pit_swap=0.6, seconds=15),
    Profile("sam.quick@demo.concord", "Sam (quick)", 0.92, 0.08, 0.3, lazy_ok=0.25, seconds=5),
    Profile("ria.sloppy@demo.concord", "Ria", 0.95, 0.15, 0.05, seconds=7),
)

# Where a wrong answer goes, as a person's would: an ok part is mostly taken for a pit or scratch.
CONFUSED_WITH = {"ok": ("pit", "scratch"), "scratch": ("ok", "discoloration"), "dent": ("pit", "discoloration"),
                 "pit": ("ok", "dent"), "discoloration": ("ok", "dent")}


@dataclass
class Answer:
    labeler: Profile
    label: str
    boxes: list[tuple[str, float, float, float, float]]  # class, x, y, w, h in pixels
    seconds: float


def answer(profile: Profile, scene: Scene, rng: np.random.Generator) -> Answer:
    label = _answer_class(profile, scene.true_class, rng)
    boxes: list[tuple[str, float, float, float, float]] = []
    if label != "ok":
        for defect in scene.defects:
            if rng.random() < profile.miss_box:
                continue
            kind = label if defect.kind == scene.true_class else defect.kind
            boxes.append((kind, *_jitter(defect.box, profile.box_jitter, rng)))
        if not boxes and not scene.defects:  # a false alarm gets a box where the person saw something
            x, y, w, h = scene.part
            spot_x, spot_y = float(rng.uniform(x + 40, x + w - 60)), float(rng.uniform(y + 40, y + h - 60))
            boxes.append((label, spot_x, spot_y, 14, 14))
    seconds = float(profile.seconds * rng.lognormal(0, 0.35) + 2 * len(boxes))
    return Answer(profile, label, boxes, seconds)


def _answer_class(profile: Profile, truth: str, rng: np.random.Generator) -> str:
    if truth != "ok" and rng.random() < profile.lazy_ok:
        return "ok"
    if truth == "pit" and rng.random() < profile.dent_pit_swap:
        return "dent"
    if truth == "dent" and rng.random() < profile.dent_pit_swap / 2:
        return "pit"
    if rng.random() < profile.accuracy:
        return truth
    return str(rng.choice(CONFUSED_WITH.get(truth, CLASSES)))


def _jitter(box: tuple[float, float, float, float], rel: float,
            rng: np.random.Generator) -> tuple[float, float, float, float]:
    x, y, w, h = box
    x0, y0, x1, y1 = x, y, x + w, y + h
    sx, sy = rel * w + 1, rel * h + 1
    x0, x1 = sorted((x0 + rng.normal(0, sx), x1 + rng.normal(0, sx)))
    y0, y1 = sorted((y0 + rng.normal(0, sy), y1 + rng.normal(0, sy)))
    x0, y0 = max(0.0, x0), max(0.0, y0)
    x1, y1 = min(float(WIDTH), max(x1, x0 + 1)), min(float(HEIGHT), max(y1, y0 + 1))
    return round(x0, 1), round(y0, 1), round(x1 - x0, 1), round(y1 - y0, 1)

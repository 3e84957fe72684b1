"""Label Studio JSON exports, parsed into plain values (no database, no files).

Reads the "JSON" export / snapshot: a list of tasks, each with `data` (the image reference and any
metadata) and `annotations` (one per labeler: `completed_by` as a user object with an email, or as a
bare user id; `result` items of type `choices` and `rectanglelabels`, coordinates in percent of the
image). Cancelled annotations (`was_cancelled`) carry no answer and are left out; results of other
types (polygons, key points, text) are counted in `ignored_results`, model `predictions` in
`predictions`. An answer holds one image class and each rectangle one label: a multi-choice answer
or a multi-label rectangle is refused (Concord could keep only part of it).

Malformed input raises Invalid naming the exact field (`tasks[12].annotations[0].result[1].value.x`)
before anything is imported. Concord's own Label Studio export (app/datasets/formats) round-trips through it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.core.errors import Invalid
from app.images.importers.jsonfile import is_finite_number, read_json

PERCENT_SLACK = 0.05  # percent: rounding in exports (4 decimals) may overshoot 100 a hair
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class Box:
    """A rectangle in percent of the image (Label Studio's units), with its label."""

    x: float
    y: float
    width: float
    height: float
    label: str

    def to_pixels(self, image_width: int, image_height: int) -> dict[str, float]:
        x, w = self.x * image_width / 100.0, self.width * image_width / 100.0
        y, h = self.y * image_height / 100.0, self.height * image_height / 100.0
        x, y = max(0.0, x), max(0.0, y)
        return {"x": x, "y": y, "w": min(w, image_width - x), "h": min(h, image_height - y)}


@dataclass(frozen=True)
class Answer:
    """One labeler's annotation of one task."""

    source_id: str  # the annotation's id in Label Studio (the key of imports made before content keys)
    where: str  # tasks[i].annotations[j]
    email: str | None
    user_id: int | None
    display_name: str
    choice: str | None
    boxes: tuple[Box, ...]
    lead_time_s: float | None
    created_at: str | None


@dataclass(frozen=True)
class Task:
    task_id: str
    image: str  # the reference as exported (a relative path, a local-files or upload URL)
    meta: dict[str, Any]
    answers: tuple[Answer, ...]


@dataclass
class Parsed:
    tasks: list[Task]
    ignored_results: int = 0
    cancelled: int = 0
    predictions: int = 0  # model predictions in the tasks: not people's answers, not imported
    labels: set[str] = field(default_factory=set)


def load(path: Path) -> Parsed:
    data = read_json(path, field="tasks")
    return parse_tasks(data)


def parse_tasks(data: Any, *, image_key: str | None = None) -> Parsed:
    if isinstance(data, dict) and "data" in data:
        data = [data]  # a single task
    if not isinstance(data, list):
        raise Invalid("a Label Studio export is a JSON list of tasks", field="tasks")
    parsed = Parsed(tasks=[])
    for i, task in enumerate(data):
        parsed.tasks.append(_task(task, f"tasks[{i}]", image_key, parsed))
    return parsed


def _task(task: Any, where: str, image_key: str | None, parsed: Parsed) -> Task:
    _require(isinstance(task, dict), "a task must be an object", where)
    data = task.get("data")
    _require(isinstance(data, dict), "a task needs a `data` object", f"{where}.data")
    key = image_key or _image_key(data)
    _require(
        key is not None and isinstance(data.get(key), str) and data[key].strip() != "",
        f"no image reference (expected data.{image_key or 'image'})",
        f"{where}.data.{image_key or 'image'}",
    )
    assert key is not None
    meta = {k: v for k, v in data.items() if k != key and isinstance(v, str | int | float | bool)}
    annotations = task.get("annotations", [])
    _require(isinstance(annotations, list), "annotations must be a list", f"{where}.annotations")
    predictions = task.get("predictions")
    parsed.predictions += len(predictions) if isinstance(predictions, list) else 0
    answers = []
    for j, annotation in enumerate(annotations):
        answer = _answer(annotation, f"{where}.annotations[{j}]", parsed)
        if answer is not None:
            answers.append(answer)
    task_id = task.get("id", task.get("inner_id"))
    return Task(
        task_id=str(task_id) if task_id is not None else where,
        image=data[key].strip(),
        meta=meta,
        answers=tuple(answers),
    )


def _image_key(data: dict[str, Any]) -> str | None:
    if "image" in data:
        return "image"
    for key, value in data.items():
        if isinstance(value, str) and value.split("?")[0].lower().endswith(IMAGE_EXTENSIONS):
            return key
    return None


def _answer(annotation: Any, where: str, parsed: Parsed) -> Answer | None:
    _require(isinstance(annotation, dict), "an annotation must be an object", where)
    if annotation.get("was_cancelled"):
        parsed.cancelled += 1
        return None
    email, user_id, name = _author(annotation.get("completed_by"), f"{where}.completed_by")
    results = annotation.get("result", [])
    _require(isinstance(results, list), "result must be a list", f"{where}.result")
    choice: str | None = None
    boxes: list[Box] = []
    for k, result in enumerate(results):
        at = f"{where}.result[{k}]"
        _require(isinstance(result, dict), "a result must be an object", at)
        value = result.get("value")
        kind = result.get("type")
        if kind == "choices":
            _require(
                isinstance(value, dict) and isinstance(value.get("choices"), list) and value["choices"],
                "choices needs a non-empty value.choices list",
                f"{at}.value.choices",
            )
            _require(
                len(value["choices"]) == 1,
                f"{len(value['choices'])} classes in one answer; an image has one class",
                f"{at}.value.choices",
            )
            label = value["choices"][0]
            _require(isinstance(label, str) and label.strip() != "", "a choice must be text", f"{at}.value.choices[0]")
            _require(
                choice is None or choice == label.strip(),
                "two different image classes in one answer",
                f"{at}.value.choices",
            )
            choice = label.strip()
            parsed.labels.add(choice)
        elif kind == "rectanglelabels":
            box = _box(value, f"{at}.value")
            boxes.append(box)
            parsed.labels.add(box.label)
        else:
            parsed.ignored_results += 1
    lead = annotation.get("lead_time")
    lead_time = float(lead) if is_finite_number(lead) and lead >= 0 else None
    created = annotation.get("created_at")
    source_id = annotation.get("id", annotation.get("unique_id"))
    return Answer(
        source_id=str(source_id) if source_id is not None else where,
        where=where,
        email=email,
        user_id=user_id,
        display_name=name,
        choice=choice,
        boxes=tuple(boxes),
        lead_time_s=lead_time,
        created_at=created if isinstance(created, str) else None,
    )


def _author(value: Any, where: str) -> tuple[str | None, int | None, str]:
    if isinstance(value, dict):
        email = value.get("email")
        _require(isinstance(email, str) and "@" in email, "completed_by needs an email", f"{where}.email")
        assert isinstance(email, str)
        name = " ".join(str(value.get(k) or "").strip() for k in ("first_name", "last_name")).strip()
        user_id = value.get("id") if isinstance(value.get("id"), int) else None
        return email.strip().lower(), user_id, name or email.strip().lower()
    _require(
        isinstance(value, int) and not isinstance(value, bool), "completed_by must be a user object or a user id", where
    )
    return None, int(value), f"Label Studio user {value}"


def _box(value: Any, where: str) -> Box:
    _require(isinstance(value, dict), "a rectangle needs a value object", where)
    numbers = {}
    for key in ("x", "y", "width", "height"):
        number = value.get(key)
        _require(
            is_finite_number(number),
            f"{key} must be a finite number",
            f"{where}.{key}",
        )
        numbers[key] = float(number)
    x, y, w, h = numbers["x"], numbers["y"], numbers["width"], numbers["height"]
    rotation = value.get("rotation", 0) or 0
    _require(
        is_finite_number(rotation), "rotation must be a number", f"{where}.rotation"
    )
    if rotation % 360:
        x, y, w, h = _unrotated(x, y, w, h, float(rotation))
    _require(w > 0 and h > 0, "a rectangle needs a positive width and height", f"{where}.width")
    _require(
        x >= -PERCENT_SLACK and x + w <= 100 + PERCENT_SLACK,
        "the rectangle lies outside the image (x, width)",
        f"{where}.x",
    )
    _require(
        y >= -PERCENT_SLACK and y + h <= 100 + PERCENT_SLACK,
        "the rectangle lies outside the image (y, height)",
        f"{where}.y",
    )
    labels = value.get("rectanglelabels")
    _require(
        isinstance(labels, list) and len(labels) > 0 and isinstance(labels[0], str) and labels[0].strip() != "",
        "a rectangle needs a label",
        f"{where}.rectanglelabels",
    )
    _require(len(labels) == 1, f"{len(labels)} labels on one rectangle; a box has one class",
             f"{where}.rectanglelabels")
    return Box(x=x, y=y, width=w, height=h, label=labels[0].strip())


def _unrotated(x: float, y: float, w: float, h: float, degrees: float) -> tuple[float, float, float, float]:
    """The axis-aligned bounds of a rectangle rotated about its top-left corner (Label Studio's pivot).
    Exact only for square images, where percent units are isotropic; the best a percent box allows."""
    t = math.radians(degrees)
    corners = [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)]
    xs = [x + cx * math.cos(t) - cy * math.sin(t) for cx, cy in corners]
    ys = [y + cx * math.sin(t) + cy * math.cos(t) for cx, cy in corners]
    return min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)


def _require(condition: bool, message: str, where: str) -> None:
    if not condition:
        raise Invalid(f"{where}: {message}", field=where)

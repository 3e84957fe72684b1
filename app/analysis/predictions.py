"""Import a model's per-image class probabilities (CSV or JSON), all rows or none.

CSV: a header with `image_id` or `file_name`, then one column per class name; one row per image
(`predicted_class` and `confidence` columns, as `concord model predict` writes, are read past).
JSON: a list of objects `{"image_id" | "file_name": ..., "probabilities": {class name: p}}` (the
class keys may also sit at the top level of each object), or `{"model": name, "predictions": [...]}`.
Every row must name a known image of the project (by id, or by a file name that only one image
has), only known class names (a class left out gets 0), finite values in [0, 1] summing to 1 within
SUM_TOLERANCE, and each image once. The first bad row gets a 422 naming it; nothing is stored then.
A second import of the same model replaces that model's probabilities for the images it names.
"""
from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.analysis.models import ModelPrediction
from app.auth.models import User
from app.core import audit
from app.core.errors import Invalid
from app.images.models import Image
from app.projects.service import classes_of

SUM_TOLERANCE = 0.01
# Columns a model's batch inference writes for people (`concord model predict`); read past unless a
# class has that name.
INFO_COLUMNS = ("predicted_class", "confidence")
MAX_ROWS = 500_000
MODEL_NAME_MAX = 120
REFERENCE_KEYS = ("image_id", "file_name")


@dataclass(frozen=True)
class RawRow:
    number: int  # 1-based data row (the CSV header is not counted)
    reference: dict[str, str]  # image_id and/or file_name as given
    values: dict[str, Any]  # class name -> probability as given


@dataclass(frozen=True)
class ImportResult:
    model_name: str
    rows: int
    created: int
    updated: int

    def as_dict(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "rows": self.rows, "created": self.created, "updated": self.updated}


def _bad(row: int | None, message: str, **detail: Any) -> Invalid:
    where = f"row {row}: " if row is not None else ""
    return Invalid(where + message, field="file", detail={"row": row, **detail})


def parse_csv(text: str) -> list[RawRow]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not any(k in header for k in REFERENCE_KEYS):
        raise _bad(None, "the CSV header needs an image_id or a file_name column")
    if len(set(header)) != len(header):
        raise _bad(None, "the CSV header repeats a column")
    rows = []
    for number, raw in enumerate(reader, start=1):
        if None in raw:
            raise _bad(number, "more cells than header columns")
        cells = {k.strip(): (v or "").strip() for k, v in raw.items()}
        reference = {k: cells.pop(k, "") for k in REFERENCE_KEYS}
        rows.append(RawRow(number, {k: v for k, v in reference.items() if v}, cells))
    return rows


def parse_json(text: str) -> tuple[list[RawRow], str | None]:
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(None, f"not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    model = None
    if isinstance(body, dict):
        model = body.get("model") if isinstance(body.get("model"), str) else None
        body = body.get("predictions")
    if not isinstance(body, list):
        raise _bad(None, 'expected a list of predictions, or {"predictions": [...]}')
    rows = []
    for number, item in enumerate(body, start=1):
        if not isinstance(item, dict):
            raise _bad(number, "each prediction must be an object")
        values = item.get("probabilities", {k: v for k, v in item.items() if k not in REFERENCE_KEYS})
        if not isinstance(values, dict):
            raise _bad(number, "probabilities must be an object of class name -> probability")
        reference = {k: str(item[k]) for k in REFERENCE_KEYS if item.get(k) not in (None, "")}
        rows.append(RawRow(number, reference, values))
    return rows, model


def parse(data: bytes, *, file_name: str = "", content_type: str = "") -> tuple[list[RawRow], str | None]:
    """Rows of a CSV or JSON file (chosen by content: JSON starts with [ or {)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _bad(None, "the file is not UTF-8 text") from exc
    if text.lstrip()[:1] in ("[", "{") or file_name.lower().endswith(".json") or "json" in content_type:
        rows, model = parse_json(text)
    else:
        rows, model = parse_csv(text), None
    if not rows:
        raise _bad(None, "the file holds no predictions")
    if len(rows) > MAX_ROWS:
        raise _bad(None, f"at most {MAX_ROWS} rows per import")
    return rows, model


def _probability(row: RawRow, name: str, value: Any) -> float:
    try:
        p = float(value) if value not in ("", None) else 0.0
    except (TypeError, ValueError):
        raise _bad(row.number, f"{name}: {value!r} is not a number", column=name) from None
    if isinstance(value, bool) or not math.isfinite(p) or p < 0 or p > 1:
        raise _bad(row.number, f"{name}: {value!r} is not a probability in [0, 1]", column=name)
    return p


def _resolver(db: Session, project_id: int) -> Callable[[RawRow], int]:
    images = db.execute(select(Image.id, Image.file_name).where(Image.project_id == project_id)).all()
    ids = {image_id for image_id, _ in images}
    names = Counter(name for _, name in images)
    by_name = {name: image_id for image_id, name in images}

    def resolve(row: RawRow) -> int:
        if "image_id" in row.reference:
            ref = row.reference["image_id"]
            if not ref.isdigit() or int(ref) not in ids:
                raise _bad(row.number, f"no image with id {ref} in this project", column="image_id")
            return int(ref)
        if "file_name" not in row.reference:
            raise _bad(row.number, "needs an image_id or a file_name")
        name = row.reference["file_name"]
        if names[name] == 0:
            raise _bad(row.number, f"no image named {name!r} in this project", column="file_name")
        if names[name] > 1:
            raise _bad(row.number, f"{names[name]} images are named {name!r}; use image_id", column="file_name")
        return by_name[name]

    return resolve


def validate_rows(db: Session, *, project_id: int, rows: list[RawRow]) -> dict[int, dict[str, float]]:
    """image id -> {class id (str): probability}; raises Invalid naming the first bad row."""
    class_ids = {c.name: c.id for c in classes_of(db, project_id)}
    resolve = _resolver(db, project_id)
    out: dict[int, dict[str, float]] = {}
    for row in rows:
        row = RawRow(row.number, row.reference,
                     {k: v for k, v in row.values.items() if k in class_ids or k not in INFO_COLUMNS})
        unknown = [name for name in row.values if name not in class_ids]
        if unknown:
            raise _bad(row.number, f"unknown class {unknown[0]!r} (classes: {', '.join(class_ids)})", column=unknown[0])
        probs = {name: _probability(row, name, value) for name, value in row.values.items()}
        total = sum(probs.values())
        if abs(total - 1.0) > SUM_TOLERANCE:
            raise _bad(row.number, f"probabilities sum to {total:.4f}, not 1", sum=round(total, 6))
        image_id = resolve(row)
        if image_id in out:
            raise _bad(row.number, f"image {image_id} appears twice")
        out[image_id] = {str(class_ids[name]): probs.get(name, 0.0) / total for name in class_ids}
    return out


def import_predictions(db: Session, *, project_id: int, data: bytes, model_name: str | None = None,
                       file_name: str = "", content_type: str = "", actor: User | None = None) -> ImportResult:
    """Validate the whole file, then store it; flushes, never commits."""
    rows, named = parse(data, file_name=file_name, content_type=content_type)
    model = (model_name or named or "model").strip()
    if not model or len(model) > MODEL_NAME_MAX:
        raise Invalid(f"a model name of 1 to {MODEL_NAME_MAX} characters is needed", field="model")
    probabilities = validate_rows(db, project_id=project_id, rows=rows)
    existing = {p.image_id: p for p in db.scalars(select(ModelPrediction).where(
        ModelPrediction.project_id == project_id, ModelPrediction.model_name == model))}
    created = updated = 0
    for image_id, probs in probabilities.items():
        if image_id in existing:
            existing[image_id].probabilities = probs
            updated += 1
        else:
            db.add(ModelPrediction(project_id=project_id, image_id=image_id, model_name=model, probabilities=probs))
            created += 1
    db.flush()
    audit.record(db, action="analysis.predictions_imported", actor_id=actor.id if actor else None,
                 project_id=project_id, object_type="model", object_id=None,
                 data={"model": model, "rows": len(rows), "created": created, "updated": updated})
    return ImportResult(model, len(rows), created, updated)

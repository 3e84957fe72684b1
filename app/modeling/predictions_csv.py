"""A run's predictions as CSV, streamed: one row per image in image id order.

Columns: image_id, file_name, split, label, predicted_class, one `p_<class name>` column per class in
the run's class order, out_of_fold (true for a training image predicted by a fold model), fold.
Text that a spreadsheet would run as a formula is prefixed with an apostrophe.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.datasets.formats._cells import cell
from app.images.models import Image
from app.modeling.models import ModelRun, RunPrediction
from app.projects.models import LabelClass

FIXED = ("image_id", "file_name", "split", "label", "predicted_class")
ROWS_PER_CHUNK = 500


def header(run: ModelRun) -> list[str]:
    return [*FIXED, *(f"p_{c['name']}" for c in run.classes), "out_of_fold", "fold"]


def lines(db: Session, run: ModelRun) -> Iterator[str]:
    """The CSV text in chunks of rows (header first)."""
    names = _class_names(db, run)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([cell(h) for h in header(run)])
    query = (select(RunPrediction, Image.file_name).join(Image, Image.id == RunPrediction.image_id)
             .where(RunPrediction.run_id == run.id).order_by(RunPrediction.image_id)
             .execution_options(yield_per=1000))
    for n, (prediction, file_name) in enumerate(db.execute(query), start=1):
        writer.writerow(_row(prediction, file_name, names))
        if n % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _row(prediction: RunPrediction, file_name: str, names: dict[int, str]) -> list[Any]:
    return [prediction.image_id, cell(file_name), prediction.split, cell(names.get(prediction.label_class_id or 0, "")),
            cell(names.get(prediction.predicted_class_id or 0, "")), *(repr(p) for p in prediction.probabilities),
            "true" if prediction.out_of_fold else "false", "" if prediction.fold is None else prediction.fold]


def _class_names(db: Session, run: ModelRun) -> dict[int, str]:
    """Names by class id: the run's own (as they were at training), then any other class a label names."""
    names = {int(c["id"]): str(c["name"]) for c in run.classes}
    others = select(LabelClass.id, LabelClass.name).where(LabelClass.project_id == run.project_id)
    for class_id, name in db.execute(others):
        names.setdefault(class_id, name)
    return names

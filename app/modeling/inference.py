"""Batch inference with a run's model on a folder of image files, and the CSV it writes: the same
columns the prediction import reads back (file_name, one probability column per class name), plus
predicted_class and confidence for people."""
from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from app.analysis.predictions import INFO_COLUMNS
from app.core.errors import Invalid
from app.training.extract import extract_many
from app.training.recipe import FittedModel, Recipe

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
Progress = Callable[[float, str], None]


def image_files(folder: Path) -> list[Path]:
    """The image files under `folder` (by suffix, recursively, sorted). Invalid when there are none, or
    when two share a file name (the import finds images by file name)."""
    if not folder.is_dir():
        raise Invalid(f"{folder} is not a folder", field="images")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise Invalid(f"no image files ({', '.join(IMAGE_SUFFIXES)}) in {folder}", field="images")
    twice = [name for name, n in Counter(p.name for p in files).items() if n > 1]
    if twice:
        raise Invalid(f"{len(twice)} file names occur more than once (e.g. {twice[0]!r}); give one folder per "
                      "batch with unique names", field="images")
    return files


def predict_files(recipe: Recipe, model: FittedModel, files: Sequence[Path], *, workers: int = 2,
                  progress: Progress | None = None) -> np.ndarray:
    """(n, C) probabilities, row i for files[i]. Invalid naming the first file that is not an image."""
    loaders = [lambda path=path: path.read_bytes() for path in files]
    try:
        features = extract_many(recipe, loaders, workers=workers, progress=progress)
    except ValueError as exc:
        index, _, reason = str(exc).partition(": ")
        where = files[int(index.split()[-1])] if index.startswith("image ") and index.split()[-1].isdigit() else None
        raise Invalid(f"{where}: {reason}" if where else str(exc), field="images") from exc
    return model.predict_proba(features)


def write_csv(handle: IO[str], *, file_names: Sequence[str], class_names: Sequence[str], proba: np.ndarray) -> int:
    """One row per image; probabilities with 6 decimals (rows still sum to 1 within the import's
    tolerance). The number of rows written."""
    clash = [name for name in class_names if name in ("file_name", "image_id", *INFO_COLUMNS)]
    if clash:
        raise Invalid(f"a class is named {clash[0]!r}, like a column of the predictions file", field="classes")
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["file_name", *INFO_COLUMNS, *class_names])
    for name, row in zip(file_names, proba, strict=True):
        top = int(np.argmax(row))
        writer.writerow([name, class_names[top], _p(row[top]), *(_p(p) for p in row)])
    return len(file_names)


def _p(value: Any) -> str:
    return f"{float(value):.6f}"

"""A finished run's row with metrics in the contract's JSON shape, for page tests that need no training."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.datasets.models import DatasetVersion
from app.modeling.models import ModelRun, RunState


def iv(value: float | None, spread: float = 0.05) -> dict[str, float | None]:
    if value is None:
        return {"value": None, "low": None, "high": None}
    return {"value": value, "low": round(value - spread, 4), "high": round(value + spread, 4)}


def evaluation(names: list[str], f1s: list[float | None], *, n: int = 40, accuracy: float = 0.8) -> dict[str, Any]:
    k = len(names)
    confusion = [[(8 if i == j else 1) for j in range(k)] for i in range(k)]
    return {
        "n": n, "accuracy": iv(accuracy), "macro_f1": iv(accuracy - 0.05),
        "per_class": [{"class_id": i + 1, "name": name, "precision": iv(f), "recall": iv(f), "f1": iv(f),
                       "support": 8 + i} for i, (name, f) in enumerate(zip(names, f1s, strict=True))],
        "confusion": confusion,
        "calibration": {"bins": [{"low": b / 5, "high": (b + 1) / 5, "confidence": (b + 0.5) / 5 if b else None,
                                  "accuracy": min(1.0, (b + 0.3) / 5) if b else None, "count": 3 * b}
                                 for b in range(5)], "ece": 0.042, "brier": 0.31},
    }


def make_run(db: Session, version: DatasetVersion, *, number: int, names: list[str], f1s: list[float | None],
             accuracy: float = 0.8, state: str = RunState.done, slices: list[dict[str, Any]] | None = None,
             **columns: Any) -> ModelRun:
    metrics: dict[str, Any] = {}
    if state == RunState.done:
        metrics = {"evaluation": evaluation(names, f1s, accuracy=accuracy),
                   "out_of_fold": evaluation(names, f1s, n=200, accuracy=accuracy - 0.1),
                   "slices": slices or [], "reference": {"version_id": version.id, "split": "test",
                                                         "settled_only": False, "count": 40}}
    run = ModelRun(project_id=version.project_id, number=number, version_id=version.id, recipe="filterbank",
                   state=state, classes=[{"id": i + 1, "name": n} for i, n in enumerate(names)], train_count=200,
                   eval_count=40, metrics=metrics, **columns)
    db.add(run)
    db.flush()
    return run


def slice_(dimension: str, value: str, accuracy: float, n: int = 12, source: str = "evaluation") -> dict[str, Any]:
    return {"dimension": dimension, "value": value, "n": n, "accuracy": iv(accuracy), "macro_f1": iv(accuracy - 0.1),
            "source": source}

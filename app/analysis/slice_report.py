"""The slice report of a project: figures per metadata slice and ranked findings (read-only)."""
from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from app.analysis.data import (
    BATCH_DIMENSION,
    DATE_DIMENSION,
    load_predictions,
    load_project_data,
    model_names,
    predicted_codes,
)
from app.analysis.drift_reports import latest_report
from app.analysis.slices import DriftInfo, SliceInput, SliceKey, SliceReport, analyze


def drift_by_slice(db: Session, project_id: int) -> dict[SliceKey, DriftInfo]:
    """The latest drift report's verdicts, keyed like the slices (batches under the batch dimension)."""
    report = latest_report(db, project_id)
    if report is None:
        return {}
    out: dict[SliceKey, DriftInfo] = {}
    for row in report.report.get("slices", []):
        key = tuple((str(d), str(v)) for d, v in row["key"])
        result = row["result"]
        out[key] = DriftInfo(result["distance"], result["flagged"], result.get("feature"), row.get("explained_by"),
                             row.get("note", ""))
    for row in report.report.get("batches", []):
        result = row["result"]
        out[((BATCH_DIMENSION, row["name"]),)] = DriftInfo(result["distance"], result["flagged"], result.get("feature"),
                                                           note=row.get("note", ""))
    return out


def slice_report(db: Session, *, project_id: int, model_name: str | None = None) -> SliceReport:
    data = load_project_data(db, project_id)
    models = model_names(db, project_id)
    model = model_name or (models[0] if models else None)
    predicted = (predicted_codes(load_predictions(db, data, project_id, model)) if model
                 else np.full(data.n, -1))
    inp = SliceInput(dims=data.dims, votes=data.votes, labels_wanted=data.labels_wanted, label=data.label,
                     final=data.final, conflict=data.conflict, predicted=predicted, class_names=data.class_names)
    return analyze(inp, drift=drift_by_slice(db, project_id), upload_dims=(BATCH_DIMENSION, "upload batch",
                                                                             DATE_DIMENSION))


def report_json(report: SliceReport) -> dict[str, Any]:
    def stats(s: Any) -> dict[str, Any]:
        return {"name": s.name, "key": [list(k) for k in s.key], "n": s.n,
                "class_counts": dict(zip(report.class_names, s.class_counts, strict=True)),
                "labeled": round(s.labeled, 4), "finalized": round(s.finalized, 4),
                "alpha": None if s.alpha is None else round(s.alpha, 4),
                "conflict_rate": None if s.conflict_rate is None else round(s.conflict_rate, 4),
                "top_pair": list(s.top_pair) if s.top_pair else None,
                "model_accuracy": None if s.model_accuracy is None else round(s.model_accuracy, 4),
                "n_scored": s.n_scored, "drifted": bool(s.drift and s.drift.flagged),
                "score": round(s.score, 4), "reasons": s.reasons}

    return {"overall": stats(report.overall), "dimensions": report.dimensions,
            "findings": [vars(f) for f in report.findings], "slices": [stats(s) for s in report.slices]}

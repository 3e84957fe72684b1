"""Where a run is weakest and what to do about it, and sending its likely label errors to review.

Classes rank by F1, lowest first; slices by their accuracy gap (the whole set's accuracy minus the
slice's, same source), largest first, only slices below the whole. Figures come from the run's stored
metrics: out-of-fold ones first (every training image, so many more than the test split), the test
evaluation where a run has no out-of-fold figures. Each weakness offers actions: a capture request
(more images of the slice or class from the line), augmenting a weak class (app.analysis augment),
and for the whole run, sending likely label errors to the review queue.

Sending to review writes the run's predictions (out of fold for training images, by the final model
for test images: none saw its image's label) as ModelPrediction rows of the model "run <number>",
then runs app.analysis.label_issues.send_to_review: confident learning against each image's current
label, conflicts ranked by severity, worst first in the queue. A decision a reviewer made is left alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from app.analysis.label_issues import SendResult, send_to_review
from app.analysis.models import ModelPrediction
from app.auth.models import User
from app.core.errors import Invalid
from app.modeling.models import ModelRun, RunPrediction

MIN_SUPPORT = 5  # a class with fewer reference images is listed, but not as a weakness
SOURCES = ("out_of_fold", "evaluation")


@dataclass
class Weakness:
    kind: str  # "class" or "slice"
    title: str  # "pit", "line L3"
    value: float  # F1 of a class; accuracy gap of a slice
    n: int
    source: str  # out_of_fold or evaluation
    detail: str
    class_id: int | None = None
    slice: dict[str, str] = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class NextSteps:
    run_id: int
    run_number: int
    model_name: str
    classes: list[Weakness] = field(default_factory=list)
    slices: list[Weakness] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "run_number": self.run_number, "model_name": self.model_name,
                "classes": [vars(w) for w in self.classes], "slices": [vars(w) for w in self.slices],
                "actions": self.actions}


def model_name(run: ModelRun) -> str:
    return f"run {run.number}"


def _eval(metrics: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    for source in SOURCES:
        body = metrics.get(source)
        if body and body.get("n"):
            return source, body
    return None


def _capture(base: str, run: ModelRun, *, class_id: int | None = None,
             slice_: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"run_id": run.id, "wanted": 50}
    if class_id is not None:
        body["label_class_id"] = class_id
    if slice_:
        body["slice"] = slice_
    return {"kind": "capture", "label": "Ask the line for more images", "method": "POST",
            "url": f"{base}/capture-requests", "body": body}


def next_steps(db: Session, run: ModelRun) -> NextSteps:
    """The run's weak classes and slices, weakest first, each with what to do about it (reads only)."""
    base = f"/api/v1/projects/{run.project_id}/models"
    out = NextSteps(run.id, run.number, model_name(run))
    out.actions.append({"kind": "send_to_review", "label": "Send likely label errors to review", "method": "POST",
                        "url": f"{base}/runs/{run.id}/send-to-review"})
    chosen = _eval(run.metrics or {})
    if chosen is None:
        return out
    source, body = chosen
    for row in body.get("per_class", []):
        f1 = (row.get("f1") or {}).get("value")
        if f1 is None or row.get("support", 0) < MIN_SUPPORT:
            continue
        recall = (row.get("recall") or {}).get("value")
        weak = Weakness("class", row["name"], float(f1), int(row["support"]), source,
                        f"F1 {f1:.2f}, recall {recall:.2f} on {row['support']} images" if recall is not None
                        else f"F1 {f1:.2f} on {row['support']} images", class_id=row["class_id"])
        weak.actions = [
            _capture(base, run, class_id=row["class_id"]),
            {"kind": "augment", "label": f"Augment {row['name']}", "method": "POST",
             "url": f"/api/v1/projects/{run.project_id}/augment", "body": {"class": row["name"], "per_image": 2},
             "page": f"/projects/{run.project_id}/analysis#augment-h"}]
        out.classes.append(weak)
    out.classes.sort(key=lambda w: (w.value, w.title))
    out.slices = _slices(base, run)
    return out


def _slices(base: str, run: ModelRun) -> list[Weakness]:
    metrics = run.metrics or {}
    best: dict[tuple[str, str], Weakness] = {}
    for s in metrics.get("slices", []):
        overall = ((metrics.get(s.get("source", "")) or {}).get("accuracy") or {}).get("value")
        value = (s.get("accuracy") or {}).get("value")
        if overall is None or value is None or value >= overall:
            continue
        key = (str(s["dimension"]), str(s["value"]))
        gap = float(overall) - float(value)
        if key in best and best[key].value >= gap:
            continue
        slice_ = {key[0]: key[1]}
        best[key] = Weakness("slice", f"{key[0]} {key[1]}", gap, int(s["n"]), s["source"],
                             f"accuracy {value:.2f} vs {overall:.2f} overall on {s['n']} images",
                             slice=slice_, actions=[_capture(base, run, slice_=slice_)])
    return sorted(best.values(), key=lambda w: (-w.value, w.title))


def write_predictions(db: Session, run: ModelRun) -> int:
    """Replace the ModelPrediction rows of the model "run <number>" with the run's predictions."""
    name = model_name(run)
    db.execute(delete(ModelPrediction).where(ModelPrediction.project_id == run.project_id,
                                             ModelPrediction.model_name == name))
    ids = [str(c["id"]) for c in run.classes]
    rows = [{"project_id": run.project_id, "image_id": image_id, "model_name": name,
             "probabilities": dict(zip(ids, (float(p) for p in probs), strict=True))}
            for image_id, probs in db.execute(select(RunPrediction.image_id, RunPrediction.probabilities)
                                              .where(RunPrediction.run_id == run.id)
                                              .order_by(RunPrediction.image_id))]
    for start in range(0, len(rows), 1000):
        db.execute(insert(ModelPrediction), rows[start:start + 1000])
    return len(rows)


def send_run_to_review(db: Session, *, run: ModelRun, actor: User | None, limit: int | None = None) -> SendResult:
    """The run's likely label errors into the review queue, worst first; flushes, never commits."""
    if write_predictions(db, run) == 0:
        raise Invalid(f"run {run.number} has no predictions to check labels with", field="run")
    db.flush()
    return send_to_review(db, project_id=run.project_id, actor=actor, model_name=model_name(run), limit=limit)

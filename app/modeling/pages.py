"""What the model pages show (one dataclass per page), read from a run's row and its metrics JSON."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from sqlalchemy.orm import Session

from app.core import charts
from app.datasets import service as datasets_service
from app.datasets.models import DatasetVersion
from app.jobs.service import JobView, job_view
from app.modeling import service
from app.modeling.models import CaptureRequest, ModelRun, RunState
from app.modeling.next_steps import NextSteps, next_steps
from app.projects.models import Project
from app.projects.navigation import NavLink

SOURCES = {"evaluation": "test images (final model)", "out_of_fold": "training images (out of fold)"}


@dataclass(frozen=True)
class Figure:
    """One metric with its bootstrap interval; None where the metric is undefined."""

    value: float | None
    low: float | None = None
    high: float | None = None

    @classmethod
    def of(cls, data: Any) -> Figure:
        if not isinstance(data, dict):
            return cls(_number(data))
        return cls(_number(data.get("value")), _number(data.get("low")), _number(data.get("high")))

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


@dataclass
class RunRow:
    run: ModelRun
    state: str  # as people should see it (service.effective_state)
    error: str
    version: DatasetVersion | None
    job: JobView | None
    accuracy: Figure
    macro_f1: Figure


@dataclass
class RunsPage:
    project: Project
    sections: list[NavLink]
    rows: list[RunRow]
    versions: Sequence[DatasetVersion]
    recipes: list[dict[str, Any]]
    may_train: bool
    form: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    max_folds: int = service.MAX_FOLDS

    @property
    def comparable(self) -> list[RunRow]:
        return [r for r in self.rows if r.state == RunState.done]


@dataclass
class ClassLine:
    name: str
    precision: Figure
    recall: Figure
    f1: Figure
    support: int


@dataclass
class SliceLine:
    dimension: str
    value: str
    n: int
    accuracy: Figure
    macro_f1: Figure
    source: str


@dataclass
class RunPage:
    project: Project
    sections: list[NavLink]
    run: ModelRun
    state: str
    error: str
    version: DatasetVersion | None
    job: JobView | None
    source: str  # which EVAL the tables show: "evaluation" or "out_of_fold"
    n: int
    accuracy: Figure
    macro_f1: Figure
    oof_accuracy: Figure
    oof_macro_f1: Figure
    ece: float | None
    brier: float | None
    classes: list[ClassLine]  # weakest F1 first
    slices: list[SliceLine]  # weakest accuracy first
    confusion: Markup | None
    calibration: Markup | None
    reference: DatasetVersion | None
    reference_count: int
    reference_settled_only: bool
    previous: ModelRun | None
    newer: ModelRun | None
    may_train: bool
    steps: NextSteps | None
    captures: list[CaptureRequest]
    capture_classes: dict[int, str]
    sources: dict[str, str] = field(default_factory=lambda: dict(SOURCES))

    @property
    def base_url(self) -> str:
        return f"/projects/{self.project.id}/models"

    @property
    def predictions_url(self) -> str:
        return f"/api/v1/projects/{self.project.id}/models/runs/{self.run.id}/predictions.csv"


def _state(db: Session, run: ModelRun) -> tuple[str, str, JobView | None]:
    """The state and error people should see, and the job's progress while the run is under way."""
    job = service.run_job(db, run)
    state, error = service.effective_state(run, job)
    active = job is not None and state in (RunState.queued, RunState.running)
    return state, error, job_view(job) if active and job is not None else None


def _eval(run: ModelRun, source: str = "evaluation") -> dict[str, Any]:
    found = (run.metrics or {}).get(source)
    return found if isinstance(found, dict) else {}


def runs_page(db: Session, project: Project, sections: list[NavLink], *, may_train: bool,
              form: dict[str, Any] | None = None, error: str | None = None) -> RunsPage:
    versions = {v.id: v for v in datasets_service.list_versions(db, project.id)}
    rows = []
    for r in service.list_runs(db, project.id):
        state, error, job = _state(db, r)
        rows.append(RunRow(run=r, state=state, error=error, version=versions.get(r.version_id), job=job,
                           accuracy=Figure.of(_eval(r).get("accuracy")), macro_f1=Figure.of(_eval(r).get("macro_f1"))))
    ordered = sorted(versions.values(), key=lambda v: v.number, reverse=True)
    form = form or {"version_id": ordered[0].id if ordered else None, "recipe": "", "seed": 0, "folds": 5}
    return RunsPage(project=project, sections=sections, rows=rows, versions=ordered, recipes=service.recipes_list(),
                    may_train=may_train, form=form, error=error)


def _weakest_first(value: float | None) -> tuple[int, float]:
    return (0, value) if value is not None else (1, 0.0)  # undefined metrics go last


def class_lines(evaluation: dict[str, Any]) -> list[ClassLine]:
    lines = [ClassLine(name=str(c.get("name", c.get("class_id"))), precision=Figure.of(c.get("precision")),
                       recall=Figure.of(c.get("recall")), f1=Figure.of(c.get("f1")), support=int(c.get("support", 0)))
             for c in evaluation.get("per_class", [])]
    return sorted(lines, key=lambda c: _weakest_first(c.f1.value))


def slice_lines(metrics: dict[str, Any]) -> list[SliceLine]:
    lines = [SliceLine(dimension=str(s.get("dimension", "")), value=str(s.get("value", "")), n=int(s.get("n", 0)),
                       accuracy=Figure.of(s.get("accuracy")), macro_f1=Figure.of(s.get("macro_f1")),
                       source=str(s.get("source", "evaluation")))
             for s in metrics.get("slices", [])]
    return sorted(lines, key=lambda s: (*_weakest_first(s.accuracy.value), -s.n))


def confusion_chart(run: ModelRun, evaluation: dict[str, Any]) -> Markup | None:
    matrix = evaluation.get("confusion") or []
    names = [str(c.get("name")) for c in run.classes]
    if not matrix or len(matrix) != len(names):
        return None
    return charts.heatmap([[float(v) for v in row] for row in matrix], names, names, value_format="{:.0f}",
                          title="Confusion: rows are the labels, columns the model's predictions", vmin=0.0,
                          high="#0072B2")


def calibration_chart(evaluation: dict[str, Any]) -> Markup | None:
    bins = (evaluation.get("calibration") or {}).get("bins") or []
    if not bins:
        return None
    return charts.reliability_diagram(
        [charts.ReliabilityBin(low=float(b.get("low", 0.0)), high=float(b.get("high", 0.0)),
                               confidence=_number(b.get("confidence")), accuracy=_number(b.get("accuracy")),
                               count=int(b.get("count", 0))) for b in bins],
        title="Reliability: accuracy against confidence")


def neighbours(db: Session, run: ModelRun) -> tuple[ModelRun | None, ModelRun | None]:
    """The project's finished runs just before and just after this one (by number)."""
    done = [r for r in service.list_runs(db, run.project_id) if r.state == RunState.done]
    older = [r for r in done if r.number < run.number]
    newer = [r for r in done if r.number > run.number]
    return (older[0] if older else None), (newer[-1] if newer else None)


def run_page(db: Session, project: Project, sections: list[NavLink], run: ModelRun, *, source: str,
             may_train: bool, captures: list[CaptureRequest], capture_classes: dict[int, str]) -> RunPage:
    source = source if source in SOURCES else "evaluation"
    shown, test, oof = _eval(run, source), _eval(run), _eval(run, "out_of_fold")
    reference = (run.metrics or {}).get("reference") or {}
    reference_version = (db.get(DatasetVersion, reference["version_id"])
                         if isinstance(reference.get("version_id"), int) else None)
    calibration = shown.get("calibration") or {}
    previous, newer = neighbours(db, run)
    state, error, job = _state(db, run)
    return RunPage(
        project=project, sections=sections, run=run, state=state, error=error,
        version=db.get(DatasetVersion, run.version_id), job=job, source=source, n=int(shown.get("n", 0)),
        accuracy=Figure.of(test.get("accuracy")), macro_f1=Figure.of(test.get("macro_f1")),
        oof_accuracy=Figure.of(oof.get("accuracy")), oof_macro_f1=Figure.of(oof.get("macro_f1")),
        ece=_number(calibration.get("ece")), brier=_number(calibration.get("brier")),
        classes=class_lines(shown), slices=slice_lines(run.metrics or {}),
        confusion=confusion_chart(run, shown), calibration=calibration_chart(shown),
        reference=reference_version, reference_count=int(reference.get("count", test.get("n", 0)) or 0),
        reference_settled_only=bool(reference.get("settled_only", False)),
        previous=previous, newer=newer, may_train=may_train,
        steps=next_steps(db, run) if state == RunState.done else None, captures=captures,
        capture_classes=capture_classes)

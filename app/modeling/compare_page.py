"""What the compare page shows: two runs on one reference, every metric's change with its interval."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup
from sqlalchemy.orm import Session

from app.core import charts
from app.core.storage import Storage
from app.datasets import service as datasets_service
from app.datasets.models import DatasetVersion
from app.modeling.attribution import Attribution, attribute
from app.modeling.compare import Changed, compare_runs
from app.modeling.pages import Figure
from app.projects.models import Project
from app.projects.navigation import NavLink


@dataclass(frozen=True)
class DeltaLine:
    """One metric in both runs and its change b - a with the paired bootstrap interval."""

    a: float | None
    b: float | None
    delta: Figure

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> DeltaLine:
        data = data or {}
        return cls(Figure.of(data.get("a")).value, Figure.of(data.get("b")).value, Figure.of(data.get("delta")))

    @property
    def verdict(self) -> str:
        """"better" / "worse" when the interval excludes zero, else "unclear"."""
        d = self.delta
        if d.low is not None and d.low > 0:
            return "better"
        if d.high is not None and d.high < 0:
            return "worse"
        return "unclear"


@dataclass
class ClassDeltas:
    name: str
    support: int
    precision: DeltaLine
    recall: DeltaLine
    f1: DeltaLine


@dataclass
class SliceDeltas:
    dimension: str
    value: str
    n: int
    accuracy: DeltaLine
    macro_f1: DeltaLine


@dataclass
class ComparePage:
    project: Project
    sections: list[NavLink]
    a: dict[str, Any]  # run summaries: id, number, recipe, seed, version_id/number/name
    b: dict[str, Any]
    reference: dict[str, Any]  # Reference.as_dict(): description, count, dropped...
    n: int
    accuracy: DeltaLine
    macro_f1: DeltaLine
    classes: list[ClassDeltas]
    slices: list[SliceDeltas]
    fixed: list[Changed]
    broken: list[Changed]
    n_fixed: int
    n_broken: int
    attribution: Attribution
    headline_chart: Markup
    class_chart: Markup | None
    slice_chart: Markup | None
    versions: Sequence[DatasetVersion]
    scope: str
    settled_only: bool

    @property
    def base_url(self) -> str:
        return f"/projects/{self.project.id}/models"


def _rows(lines: Sequence[tuple[str, DeltaLine, str]]) -> list[charts.DeltaRow]:
    return [charts.DeltaRow(label, line.delta.value, line.delta.low, line.delta.high, note)
            for label, line, note in lines]


def compare_page(db: Session, storage: Storage, project: Project, sections: list[NavLink], *, a_id: int, b_id: int,
                 reference_id: int | None, scope: str, settled_only: bool) -> ComparePage:
    """Raises what compare_runs raises (NotFound, Invalid): the page shows nothing half-computed."""
    comparison = compare_runs(db, storage=storage, project_id=project.id, a_id=a_id, b_id=b_id,
                              reference_version_id=reference_id, split=scope, settled_only=settled_only)
    data = comparison.as_dict()
    accuracy, macro_f1 = DeltaLine.of(data["accuracy"]), DeltaLine.of(data["macro_f1"])
    classes = sorted((ClassDeltas(c["name"], int(c["support"]), DeltaLine.of(c["precision"]),
                                  DeltaLine.of(c["recall"]), DeltaLine.of(c["f1"])) for c in data["per_class"]),
                     key=lambda c: c.f1.delta.value if c.f1.delta.value is not None else 0.0)
    slices = [SliceDeltas(s["dimension"], str(s["value"]), int(s["n"]), DeltaLine.of(s["accuracy"]),
                          DeltaLine.of(s["macro_f1"])) for s in data["slices"]]
    title = f"Run {data['b']['number']} minus run {data['a']['number']}"
    return ComparePage(
        project=project, sections=sections, a=data["a"], b=data["b"], reference=data["reference"], n=data["n"],
        accuracy=accuracy, macro_f1=macro_f1, classes=classes, slices=slices, fixed=comparison.fixed,
        broken=comparison.broken, n_fixed=comparison.n_fixed, n_broken=comparison.n_broken,
        attribution=attribute(db, comparison),
        headline_chart=charts.delta_chart(_rows([("accuracy", accuracy, ""), ("macro-F1", macro_f1, "")]),
                                          title=f"{title}: accuracy and macro-F1"),
        class_chart=charts.delta_chart(_rows([(c.name, c.f1, f"n={c.support}") for c in classes]),
                                       title=f"{title}: F1 per class") if classes else None,
        slice_chart=charts.delta_chart(_rows([(f"{s.dimension} {s.value}", s.accuracy, f"n={s.n}") for s in slices]),
                                       title=f"{title}: accuracy per slice") if slices else None,
        versions=datasets_service.list_versions(db, project.id), scope=scope, settled_only=settled_only)

"""Page contexts of the analysis pages, with their server-side SVG charts."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.analysis import drift as drift_maths
from app.analysis import service
from app.analysis.data import model_names
from app.analysis.models import DriftReport
from app.analysis.slices import SliceReport, SliceStats
from app.auth.deps import ProjectAccess
from app.auth.models import Role, User
from app.consistency.models import LabelerQuality
from app.core import charts
from app.images.models import UploadBatch
from app.projects.models import LabelClass, Project
from app.projects.navigation import NavLink
from app.projects.service import classes_of

REFERENCE_COLOUR, GROUP_COLOUR, FLAG_COLOUR, OK_COLOUR = "#0072B2", "#D55E00", "#b3261e", "#0b6e4f"


@dataclass
class AnalysisPage:
    project: Project
    sections: Sequence[NavLink]  # the project's tabs
    can_admin: bool
    report: SliceReport
    classes: Sequence[LabelClass]
    models: list[str]
    model: str | None
    drift: service.DriftSummary | None
    class_chart: Markup
    alpha_chart: Markup
    quality_chart: Markup | None

    @property
    def top_slices(self) -> list[SliceStats]:
        return self.report.slices[:40]


@dataclass
class GroupCharts:
    name: str
    kind: str  # batch or slice
    flagged: bool
    distance: float
    feature: str | None
    charts: list[Markup]
    colour: str  # the colour shares against the reference's, in words


@dataclass
class DriftPage:
    project: Project
    sections: Sequence[NavLink]  # the project's tabs
    can_admin: bool
    report: DriftReport | None
    body: dict[str, Any]
    batches: Sequence[UploadBatch]
    reference_id: int | None
    distance_chart: Markup | None
    shown: list[GroupCharts] = field(default_factory=list)
    threshold: float = drift_maths.THRESHOLD

    @property
    def flagged_slices(self) -> list[dict[str, Any]]:
        return [s for s in self.body.get("slices", []) if s["result"]["flagged"]]


@dataclass
class LabelIssuesPage:
    project: Project
    sections: Sequence[NavLink]  # the project's tabs
    can_admin: bool
    report: service.IssueReport
    thumbs: dict[int, str]
    shown: int
    joint_chart: Markup | None = None
    error: str | None = None


def analysis_page(db: Session, access: ProjectAccess, sections: Sequence[NavLink], model: str | None) -> AnalysisPage:
    project = access.project
    report = service.slice_report(db, project_id=project.id, model_name=model)
    classes = classes_of(db, project.id)
    colours = {c.name: c.colour for c in classes}
    class_bars = [charts.Bar(name, count, colours.get(name, charts.PALETTE[0]))
                  for name, count in zip(report.class_names, report.overall.class_counts, strict=True)]
    return AnalysisPage(
        project=project, sections=sections, can_admin=access.at_least(Role.admin), report=report, classes=classes,
        models=model_names(db, project.id), model=model, drift=service.drift_summary(db, project.id),
        class_chart=charts.bar_chart(class_bars, title="Images per class (current labels)"),
        alpha_chart=_alpha_chart(report), quality_chart=_quality_chart(db, project.id))


def _alpha_chart(report: SliceReport) -> Markup:
    singles = [s for s in report.slices if len(s.key) == 1 and s.alpha is not None]
    singles.sort(key=lambda s: (s.key[0][0], s.key[0][1]))
    overall = report.overall.alpha
    bars = [charts.Bar(f"{s.key[0][0]} {s.key[0][1]}", s.alpha or 0.0,
                       FLAG_COLOUR if overall is not None and (s.alpha or 0) < overall - 0.05 else OK_COLOUR,
                       note=f"n={s.n}") for s in singles[:24]]
    if overall is not None:
        bars.insert(0, charts.Bar("all images", overall, "#5d6773", note=f"n={report.overall.n}"))
    return charts.bar_chart(bars, title="Krippendorff's alpha per slice", value_format="{:.2f}", max_value=1.0,
                            label_width=150)


def _quality_chart(db: Session, project_id: int) -> Markup | None:
    rows = db.execute(select(User.display_name, LabelerQuality.accuracy, LabelerQuality.n_labels)
                      .join(User, User.id == LabelerQuality.user_id)
                      .where(LabelerQuality.project_id == project_id, LabelerQuality.accuracy.is_not(None))
                      .order_by(LabelerQuality.accuracy.desc())).all()
    if not rows:
        return None
    bars = [charts.Bar(name, float(acc or 0), OK_COLOUR if (acc or 0) >= 0.85 else FLAG_COLOUR, note=f"{n} labels")
            for name, acc, n in rows[:30]]
    return charts.bar_chart(bars, title="Labeler accuracy (Dawid-Skene estimate)", value_format="{:.0%}",
                            max_value=1.0, label_width=170)


def drift_page(db: Session, access: ProjectAccess, sections: Sequence[NavLink], group: str | None) -> DriftPage:
    project = access.project
    report = service.latest_report(db, project.id)
    body = report.report if report else {}
    batches = db.scalars(select(UploadBatch).where(UploadBatch.project_id == project.id)
                         .order_by(UploadBatch.id)).all()
    reference = service.reference_batch(db, project.id)
    page = DriftPage(project=project, sections=sections, can_admin=access.at_least(Role.admin), report=report,
                     body=body, batches=batches, reference_id=reference.id if reference else None,
                     distance_chart=_distance_chart(body) if body else None)
    if body:
        page.shown = [_group_charts(body, row, kind) for row, kind in _groups_to_show(body, group)]
    return page


def _groups_to_show(body: dict[str, Any], group: str | None) -> list[tuple[dict[str, Any], str]]:
    rows = [(b, "batch") for b in body.get("batches", []) if not b.get("is_reference")]
    rows += [(s, "slice") for s in body.get("slices", [])]
    if group:
        return [(r, k) for r, k in rows if r["name"] == group][:1]
    flagged = [(r, k) for r, k in rows if r["result"]["flagged"] and not r.get("explained_by")]
    return (flagged or sorted(rows, key=lambda rk: -rk[0]["result"]["distance"]))[:4]


def _group_charts(body: dict[str, Any], row: dict[str, Any], kind: str) -> GroupCharts:
    result = row["result"]
    ref = body["reference"]
    shown = []
    for spec in drift_maths.FEATURES[:3]:
        series = [charts.Series(f"reference: {ref['name']}", ref["hist"][spec.name], REFERENCE_COLOUR),
                  charts.Series(row["name"], row["hist"][spec.name], GROUP_COLOUR)]
        shown.append(charts.histogram(list(spec.edges), series, title=f"{row['name']}: {spec.label}",
                                      x_label=spec.label, width=380, height=190))
    means = {f["feature"]: f for f in result.get("features", [])}
    colour = ""
    if all(name in means for name in ("red", "green", "blue")):
        mine = "/".join(f"{means[n]['mean']:.3f}" for n in ("red", "green", "blue"))
        ref_shares = "/".join(f"{means[n]['reference_mean']:.3f}" for n in ("red", "green", "blue"))
        colour = f"colour shares red/green/blue {mine} against {ref_shares} in the reference"
    return GroupCharts(row["name"], kind, bool(result["flagged"]), float(result["distance"]), result.get("feature"),
                       shown, colour)


def _distance_chart(body: dict[str, Any]) -> Markup:
    rows = [(f"batch {b['name']}", b["result"]) for b in body.get("batches", []) if not b.get("is_reference")]
    rows += [(s["name"], s["result"]) for s in body.get("slices", [])]
    rows = [r for r in rows if r[1].get("judged", True)]
    rows.sort(key=lambda r: -r[1]["distance"])
    bars = [charts.Bar(name, result["distance"], FLAG_COLOUR if result["flagged"] else OK_COLOUR,
                       note="drifted" if result["flagged"] else "") for name, result in rows[:16]]
    return charts.bar_chart(bars, title=f"Drift distance (flag at {drift_maths.THRESHOLD} reference SDs)",
                            value_format="{:.2f}", label_width=170, width=560)


def label_issues_page(db: Session, access: ProjectAccess, sections: Sequence[NavLink], *, model: str | None,
                      rank_by: str,
                      error: str | None = None, limit: int = 200) -> LabelIssuesPage:
    project = access.project
    report = service.find_issues(db, project_id=project.id, model_name=model, rank_by=rank_by)
    shown = report.issues[:limit]
    thumbs = {i.image_id: f"/projects/{project.id}/images/{i.image_id}/thumb" for i in shown}
    joint = None
    if report.confident_joint:
        names = report.class_names
        off = [v for i, row in enumerate(report.confident_joint) for j, v in enumerate(row) if i != j]
        joint = charts.heatmap(report.confident_joint, names, names, value_format="{:.0f}", vmin=0,
                               vmax=max([1, *off]),  # the off-diagonal carries the news; the diagonal saturates
                               title="Confident joint: given label (rows) by the class the model confidently sees")
    return LabelIssuesPage(project=project, sections=sections, can_admin=access.at_least(Role.admin), report=report,
                           thumbs=thumbs, shown=len(shown), joint_chart=joint, error=error)

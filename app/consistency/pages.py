"""The agreement page's context: figures, and the charts drawn server-side as SVG."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.deps import ProjectAccess
from app.auth.models import Role
from app.consistency import reports
from app.consistency.service import JOB_KIND
from app.core import charts
from app.projects.models import Project
from app.projects.navigation import NavLink

GOOD, WEAK, BAD = "#0b6e4f", "#E69F00", "#b3261e"
MAX_KAPPA_MATRIX = 24  # labelers; above that the page lists the weakest pairs instead


@dataclass
class AgreementPage:
    project: Project
    sections: Sequence[NavLink]  # the project's tabs
    can_admin: bool
    summary: dict[str, Any]
    pair_chart: Markup | None
    quality_chart: Markup | None
    kappa_chart: Markup | None
    trend_chart: Markup | None
    weakest_kappas: list[dict[str, Any]] = field(default_factory=list)
    job: Any = None  # a queued/running recompute (jobs.service.JobView) for the progress partial

    @property
    def computed(self) -> bool:
        return self.summary["computed_at"] is not None

    @property
    def open_conflicts(self) -> int:
        return sum(self.summary["conflicts"].values())


def agreement_page(db: Session, access: ProjectAccess, sections: Sequence[NavLink]) -> AgreementPage:
    summary = reports.agreement_summary(db, project_id=access.project.id)
    kappas = summary["kappas"]
    people = sorted({(k["a"], k["labelers"][0]) for k in kappas} | {(k["b"], k["labelers"][1]) for k in kappas})
    return AgreementPage(
        project=access.project, sections=sections, can_admin=access.at_least(Role.admin), summary=summary,
        pair_chart=_pair_chart(summary), quality_chart=_quality_chart(summary["labelers"]),
        kappa_chart=_kappa_chart(kappas, people) if 2 <= len(people) <= MAX_KAPPA_MATRIX else None,
        trend_chart=_trend_chart(summary["trend"]),
        weakest_kappas=sorted((k for k in kappas if k["kappa"] is not None), key=lambda k: k["kappa"])[:10],
        job=_running_job(db, access.project.id),
    )


def _pair_chart(summary: dict[str, Any]) -> Markup | None:
    names, rate = summary["class_pairs"]["classes"], summary["class_pairs"].get("rate")
    if not names or not rate:
        return None
    matrix = [[None if i == j else rate[i][j] for j in range(len(names))] for i in range(len(names))]
    return charts.heatmap(matrix, names, names, title="How often labelers split between two classes",
                          value_format="{:.2f}", vmin=0.0)


def _quality_chart(labelers: list[dict[str, Any]]) -> Markup | None:
    shown = [q for q in labelers if q["accuracy"] is not None]
    if not shown:
        return None
    bars = [charts.Bar(q["name"], q["accuracy"], GOOD if q["accuracy"] >= 0.9 else WEAK if q["accuracy"] >= 0.75
                       else BAD, note=f"{q['n_labels']} labels") for q in shown[:40]]
    return charts.bar_chart(bars, title="Estimated accuracy per labeler (Dawid-Skene)", value_format="{:.0%}",
                            max_value=1.0, label_width=170)


def _kappa_chart(kappas: list[dict[str, Any]], people: list[tuple[int, str]]) -> Markup:
    index = {uid: n for n, (uid, _) in enumerate(people)}
    matrix: list[list[float | None]] = [[None] * len(people) for _ in people]
    for k in kappas:
        a, b = index[k["a"]], index[k["b"]]
        matrix[a][b] = matrix[b][a] = k["kappa"]
    names = [name for _, name in people]
    return charts.heatmap(matrix, names, names, title="Cohen's kappa between labelers", value_format="{:.2f}",
                          low=BAD, high=GOOD, vmin=0.0, vmax=1.0, cell=36, label_width=150)


def _trend_chart(points: list[dict[str, Any]]) -> Markup | None:
    if len(points) < 2:
        return None
    labels = [p["at"][5:16].replace("T", " ") for p in points]
    series = [charts.Series("alpha", [p["alpha"] for p in points], "#0072B2"),
              charts.Series("box alpha", [p["box_alpha"] for p in points], "#D55E00")]
    return charts.line_chart(labels, series, title="Agreement over time", y_min=0.0, y_max=1.0)


def _running_job(db: Session, project_id: int) -> Any:
    from app.jobs import service as jobs
    from app.jobs.models import Job, JobState

    job = db.scalar(select(Job).where(Job.project_id == project_id, Job.kind == JOB_KIND,
                                      Job.state.in_([JobState.queued, JobState.running]))
                    .order_by(Job.id.desc()).limit(1))
    return jobs.job_view(job) if job is not None else None

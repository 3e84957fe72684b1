"""What the consistency service needs to know about a project before judging its images.

Class codes: every class of the project (retired ones too), ordered as on the labeling page
(position, then id), so the majority tie rule — the first class in that order — is the project's own
order. Annotations of a merged (retired) class count for the class that now stands for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.consistency.boxes import BoxParams
from app.consistency.models import AgreementSnapshot, LabelerQuality
from app.projects.models import LabelClass, Project, TaskType
from app.projects.taxonomy import class_mapping

DEFAULT_MATCH_IOU = 0.3
DEFAULT_TOLERANCE_PX = 2.0
VOICE_SETTING = "model_voice_run_id"  # a model run that joins consensus as one more voice (voice.py)


@dataclass
class ProjectContext:
    project: Project
    class_ids: list[int]  # code -> class id
    names: list[str]  # code -> class name
    mapping: dict[int, int]  # retired class id -> the class that stands for it now
    box_params: BoxParams
    priors: np.ndarray | None = None  # Dawid-Skene class priors of the last global run (by code)
    confusion: dict[int, np.ndarray] = field(default_factory=dict)  # labeler id -> (K, K), same codes
    mean_confusion: np.ndarray | None = None  # for a labeler the last run did not know
    voice_confusion: np.ndarray | None = None  # the model voice's, when the last run had the same voice

    def __post_init__(self) -> None:
        self._code = {cid: k for k, cid in enumerate(self.class_ids)}

    @property
    def n_classes(self) -> int:
        return len(self.class_ids)

    @property
    def boxes_enabled(self) -> bool:
        return self.project.task_type in (TaskType.boxes, TaskType.both)

    def code(self, class_id: int | None) -> int | None:
        """The code of a class id after merges; None for no class or a class of another project."""
        if class_id is None:
            return None
        return self._code.get(self.mapping.get(class_id, class_id))

    def name(self, code: int) -> str:
        return self.names[code]


# Built once (every submit loads its project's context): statements with bound parameters.
_CLASSES = (select(LabelClass.id, LabelClass.name).where(LabelClass.project_id == bindparam("project_id"))
            .order_by(LabelClass.position, LabelClass.id))
_LATEST_DS = (select(AgreementSnapshot.summary["ds"]).where(AgreementSnapshot.project_id == bindparam("project_id"))
              .order_by(AgreementSnapshot.created_at.desc(), AgreementSnapshot.id.desc()).limit(1))
_CONFUSIONS = select(LabelerQuality.user_id, LabelerQuality.confusion, LabelerQuality.class_ids).where(
    LabelerQuality.project_id == bindparam("project_id"), LabelerQuality.user_id.in_(bindparam("ids", expanding=True)))


def load_context(db: Session, project: Project) -> ProjectContext:
    classes = db.execute(_CLASSES, {"project_id": project.id}).all()
    settings = project.settings or {}
    params = BoxParams(match_iou=float(settings.get("box_match_iou", DEFAULT_MATCH_IOU)),
                       localization_iou=float(project.iou_threshold),
                       tolerance_px=float(settings.get("box_tolerance_px", DEFAULT_TOLERANCE_PX)))
    return ProjectContext(project=project, class_ids=[c.id for c in classes], names=[c.name for c in classes],
                          mapping=class_mapping(db, project.id), box_params=params)


def latest_snapshot(db: Session, project_id: int) -> AgreementSnapshot | None:
    return db.scalars(select(AgreementSnapshot).where(AgreementSnapshot.project_id == project_id)
                      .order_by(AgreementSnapshot.created_at.desc(), AgreementSnapshot.id.desc()).limit(1)).first()


def load_estimates(db: Session, ctx: ProjectContext, labeler_ids: Iterable[int]) -> None:
    """Attach the last global run's priors and these labelers' confusion matrices, when they were
    computed over the same classes in the same order (a taxonomy change voids them)."""
    ds = db.scalar(_LATEST_DS, {"project_id": ctx.project.id})
    if not isinstance(ds, dict) or ds.get("class_ids") != ctx.class_ids:
        return
    ctx.priors = np.asarray(ds["priors"], dtype=float)
    ctx.mean_confusion = np.asarray(ds["mean_confusion"], dtype=float) if ds.get("mean_confusion") else None
    voice = ds.get("voice")
    if isinstance(voice, dict) and voice.get("run_id") == (ctx.project.settings or {}).get(VOICE_SETTING):
        ctx.voice_confusion = np.asarray(voice["confusion"], dtype=float)
    wanted = sorted(set(labeler_ids))
    if not wanted:
        return
    rows = db.execute(_CONFUSIONS, {"project_id": ctx.project.id, "ids": wanted}).all()
    for user_id, confusion, class_ids in rows:
        if class_ids == ctx.class_ids and confusion:
            ctx.confusion[user_id] = np.asarray(confusion, dtype=float)

"""The model as one more voice in consensus (opt-in: project.settings["model_voice_run_id"]).

A finished run's predicted class per image (out of fold for its training images, the final model's
for the others) enters Dawid–Skene as the answers of one pseudo-labeler with its own confusion
matrix. It is not a person: it is left out of labeler quality, agreement between people, conflicts'
labeler answers and gold scores; it only moves the consensus estimate (and so the low-confidence
conflicts and the automatic final labels that follow from it). A reviewer's decision never moves.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.consistency.context import VOICE_SETTING, ProjectContext
from app.consistency.dawid_skene import DawidSkeneResult, dawid_skene
from app.consistency.metrics import NO_LABEL, Triples, make_triples
from app.core.errors import Invalid
from app.modeling.models import ModelRun, RunPrediction, RunState
from app.projects.models import Project


def voice_run_id(project: Project) -> int | None:
    value = (project.settings or {}).get(VOICE_SETTING)
    return value if isinstance(value, int) else None


def set_voice(db: Session, project: Project, run: ModelRun | None) -> None:
    """Make `run` the project's model voice, or none (flushes; the caller schedules the recompute)."""
    if run is not None:
        if run.project_id != project.id:
            raise Invalid(f"run {run.id} is not a run of this project")
        if run.state != RunState.done:
            raise Invalid(f"run {run.number} is {run.state}: only a finished run can be a voice in consensus")
    settings = dict(project.settings or {})
    if run is None:
        settings.pop(VOICE_SETTING, None)
    else:
        settings[VOICE_SETTING] = run.id
    project.settings = settings  # a new dict: the JSON column sees the change
    db.flush()


def predicted_codes(db: Session, ctx: ProjectContext, image_ids: list[int]) -> dict[int, int]:
    """The voice run's predicted class code per image id (images it did not predict are absent)."""
    run_id = voice_run_id(ctx.project)
    if run_id is None or not image_ids:
        return {}
    run = db.get(ModelRun, run_id)
    if run is None or run.project_id != ctx.project.id or run.state != RunState.done:
        return {}  # the run was deleted or is not usable: no voice
    found: dict[int, int] = {}
    for start in range(0, len(image_ids), 5000):
        rows = db.execute(select(RunPrediction.image_id, RunPrediction.predicted_class_id).where(
            RunPrediction.run_id == run_id, RunPrediction.image_id.in_(image_ids[start:start + 5000])))
        for image_id, class_id in rows:
            code = ctx.code(class_id)
            if code is not None:
                found[int(image_id)] = code
    return found


def fit_with_voice(t: Triples, image_ids: np.ndarray, codes: dict[int, int]
                   ) -> tuple[DawidSkeneResult, np.ndarray, int]:
    """Dawid–Skene over the people's labels plus the voice's (labeler code t.n_labelers). Returns the
    result with per-labeler arrays of the people only, the voice's confusion (K, K), and its answers."""
    items = np.array([k for k, i in enumerate(image_ids.tolist()) if i in codes], dtype=np.int64)
    answers = np.array([codes[int(image_ids[k])] for k in items], dtype=np.int64)
    voice = t.n_labelers
    both = make_triples(np.r_[t.item, items], np.r_[t.labeler, np.full(items.size, voice)], np.r_[t.label, answers],
                        n_items=t.n_items, n_labelers=t.n_labelers + 1, n_classes=t.n_classes)
    ds = dawid_skene(both)
    labeled = np.bincount(t.item, minlength=t.n_items) > 0  # an image only the model answered has no consensus
    people = replace(ds, consensus=np.where(labeled, ds.consensus, NO_LABEL),
                     confidence=np.where(labeled, ds.confidence, 0.0), confusion=ds.confusion[:voice],
                     accuracy=ds.accuracy[:voice], n_labels=ds.n_labels[:voice])
    return people, ds.confusion[voice], int(items.size)

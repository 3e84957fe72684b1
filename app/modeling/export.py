"""A trained run as one ONNX file for the line (the recipe's whole pipeline: features and head), with
its model card."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import onnx
from sqlalchemy.orm import Session

from app.core.storage import Storage
from app.datasets.models import DatasetVersion
from app.modeling import card, service
from app.modeling.models import ModelRun
from app.projects.models import Project

FORMATS = ("onnx",)


@dataclass(frozen=True)
class ExportedModel:
    onnx: bytes
    card: dict[str, Any]
    file_stem: str  # "bearings-run-3"

    @property
    def card_markdown(self) -> str:
        return card.to_markdown(self.card)

    @property
    def card_json(self) -> str:
        return json.dumps(self.card, indent=2, sort_keys=True) + "\n"


def export_run(db: Session, *, storage: Storage, run: ModelRun) -> ExportedModel:
    """The run's model as ONNX, and its card. Conflict (from load_model) for a run without a model."""
    recipe, model = service.load_model(storage, run)
    data = recipe.to_onnx(model, class_names=[c["name"] for c in run.classes])
    version = db.get_one(DatasetVersion, run.version_id)
    project = db.get_one(Project, run.project_id)
    meta = {entry.key: entry.value for entry in onnx.load_from_string(data).metadata_props}
    made = card.build_card(
        project_name=project.name,
        run={"id": run.id, "number": run.number, "seed": run.seed, "folds": run.folds, "train_count": run.train_count,
             "eval_count": run.eval_count, "created_at": run.created_at.isoformat(),
             "finished_at": run.finished_at.isoformat() if run.finished_at else None,
             "recipe_identity": run.recipe_identity},
        version={"id": version.id, "number": version.number, "name": version.name,
                 "content_hash": version.content_hash},
        classes=run.classes, metrics=run.metrics, onnx_sha256=hashlib.sha256(data).hexdigest(),
        onnx_io={"input": meta.get("concord.input", ""), "output": meta.get("concord.output", ""),
                 "preprocessing": meta.get("concord.preprocessing", "")},
    )
    return ExportedModel(onnx=data, card=made, file_stem=f"{_slug(project.name)}-run-{run.number}")


def _slug(name: str) -> str:
    kept = "".join(ch.lower() if ch.isalnum() else "-" for ch in name)
    return "-".join(part for part in kept.split("-") if part)[:60] or "model"

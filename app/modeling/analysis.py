"""The error-analysis side of model runs for routes and commands: a comparison with its attribution,
a run's next steps, and sending a run's likely label errors to review (each one call, JSON out)."""
from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.auth.models import User
from app.core.storage import Storage
from app.modeling import attribution, compare, next_steps


def comparison_json(db: Session, *, storage: Storage, project_id: int, a_id: int, b_id: int,
                    reference_version_id: int | None = None, split: str = "test",
                    settled_only: bool = True) -> dict[str, Any]:
    """compare.compare_runs as JSON, with "attribution" (see app.modeling.attribution)."""
    result = compare.compare_runs(db, storage=storage, project_id=project_id, a_id=a_id, b_id=b_id,
                                  reference_version_id=reference_version_id, split=split, settled_only=settled_only)
    return result.as_dict() | {"attribution": attribution.attribute(db, result).as_dict()}


def run_next_steps(db: Session, project_id: int, run_id: int) -> dict[str, Any]:
    return next_steps.next_steps(db, compare.usable_run(db, project_id, run_id)).as_dict()


def send_run_to_review(db: Session, *, project_id: int, run_id: int, actor: User | None,
                       limit: int | None = None) -> dict[str, Any]:
    """Flushes, never commits."""
    run = compare.usable_run(db, project_id, run_id)
    return next_steps.send_run_to_review(db, run=run, actor=actor, limit=limit).as_dict()

"""The transaction around a decision, shared by the page, the API and the CLI.

A decision that loses a race is rolled back, then recorded on its own in the audit trail (with
everything the reviewer chose) and committed, and the caller gets StaleDecision (409) carrying
the state that won and the attempt, so the reviewer loses nothing.
"""
from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from app.auth.models import User
from app.projects.models import Project
from app.review import service
from app.review.schemas import DecisionIn
from app.review.service import DecisionResult, StaleDecision

LOST_RACE = "another reviewer decided this conflict at the same moment; nothing of yours was applied"


def commit_decision(db: Session, *, project: Project, conflict_id: int, reviewer: User,
                    data: DecisionIn) -> DecisionResult:
    try:
        result = service.decide(db, project=project, conflict_id=conflict_id, reviewer=reviewer, data=data)
        db.commit()
        return result
    except StaleDecision as exc:
        message = exc.message
    except (StaleDataError, IntegrityError):
        message = LOST_RACE
    db.rollback()
    detail = service.record_lost_attempt(db, project_id=project.id, conflict_id=conflict_id, reviewer=reviewer,
                                         data=data)
    db.commit()
    raise StaleDecision(message, detail=detail)

"""The model as one more voice in consensus (admins): the JSON setting and the run page's button."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from app.auth.deps import AdminAccess, ReviewerAccess
from app.consistency import service, voice
from app.core.db import DbSession
from app.core.flash import redirect_with_flash
from app.modeling.service import get_run

router = APIRouter(tags=["consistency"])


class VoiceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    run_id: int | None = Field(ge=1, le=2**62, description="a finished run of this project, or null: no model voice")


class VoiceOut(BaseModel):
    run_id: int | None
    queued: bool = False  # a consistency recompute was queued (job_id) or, without workers, already ran
    job_id: int | None = None


@router.get("/api/v1/projects/{project_id}/model-voice", response_model=VoiceOut)
def read_voice(access: ReviewerAccess) -> VoiceOut:
    """The run whose predictions count as one more voice in the project's consensus, if any."""
    return VoiceOut(run_id=voice.voice_run_id(access.project))


@router.put("/api/v1/projects/{project_id}/model-voice", response_model=VoiceOut)
def choose_voice(body: VoiceIn, access: AdminAccess, db: DbSession) -> VoiceOut:
    """Add a finished run's predicted classes to Dawid-Skene consensus as one more labeler (or stop, with
    null); recomputes the project's consistency. It changes automatic consensus, never a reviewer's decision."""
    run = get_run(db, access.project.id, body.run_id) if body.run_id is not None else None
    job = service.set_model_voice(db, project=access.project, run=run, created_by=access.user)
    db.commit()
    return VoiceOut(run_id=voice.voice_run_id(access.project), queued=job is not None,
                    job_id=job.id if job is not None else None)


@router.post("/projects/{project_id}/models/{run_id}/voice")
def voice_button(request: Request, run_id: int, access: AdminAccess, db: DbSession,
                 on: Annotated[bool, Form()]) -> RedirectResponse:
    run = get_run(db, access.project.id, run_id)
    service.set_model_voice(db, project=access.project, run=run if on else None, created_by=access.user)
    db.commit()
    message = (f"Run {run.number} is now one more voice in consensus; consistency is being recomputed" if on
                    else "No model voice in consensus any more; consistency is being recomputed")
    return redirect_with_flash(request, f"/projects/{access.project.id}/models/{run.id}", message)

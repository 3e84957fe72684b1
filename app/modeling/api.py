"""JSON API of model runs: /api/v1/projects/{project_id}/models/... (train: admins; read: reviewers and up)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile
from fastapi.responses import JSONResponse, StreamingResponse

from app.auth.deps import AdminAccess, ReviewerAccess
from app.core.db import DbSession, read_only_session
from app.core.storage import StorageDep
from app.datasets.downloads import content_disposition
from app.modeling import backbones, predictions_csv, service
from app.modeling.schemas import BackboneOut, RecipeOut, RunIn, RunOut

router = APIRouter(prefix="/api/v1/projects/{project_id}/models", tags=["models"])


@router.get("/recipes", response_model=list[RecipeOut])
def recipes(access: ReviewerAccess) -> Any:
    """The recipes a run can use, the default first, with what identifies each (name, version,
    parameters, library versions, feature_key) and whether it needs an uploaded backbone."""
    return service.recipes_list()


@router.post("/backbones", status_code=201, response_model=BackboneOut)
def upload_backbone(access: AdminAccess, db: DbSession, storage: StorageDep,
                    file: Annotated[UploadFile, File(description="a pretrained ONNX image model")]) -> Any:
    """Validate and store an ONNX backbone for the onnx-linear recipe; 422 saying what is wrong with
    the file otherwise. Pass the answer's `backbone` to POST runs."""
    db.commit()  # nothing to write in the database: end the read (on SQLite it holds the write lock)
    return backbones.save(storage, project_id=access.project.id, data=file.file.read())


@router.post("/runs", status_code=202, response_model=RunOut)
def start(body: RunIn, access: AdminAccess, db: DbSession, storage: StorageDep) -> Any:
    """Queue a run: 202 with it (state queued) and its job (poll the run or the job's `status_url`).
    422 (nothing stored) for another project's version, an unknown recipe, a bad backbone, or a
    version whose train and val images cannot train a model."""
    db.commit()  # end the authorization's read: on SQLite it holds the write lock while a backbone is checked
    run = service.start_run(db, project_id=access.project.id, version_id=body.version_id, recipe=body.recipe,
                            seed=body.seed, folds=body.folds, backbone_key=body.backbone, storage=storage,
                            user=access.user)
    db.commit()
    return JSONResponse(RunOut.of(run, service.run_job(db, run)).model_dump(mode="json"), status_code=202)


@router.get("/runs", response_model=list[RunOut])
def list_runs(access: ReviewerAccess, db: DbSession) -> Any:
    """The project's runs, newest first."""
    return [RunOut.of(run, service.run_job(db, run)) for run in service.list_runs(db, access.project.id)]


@router.get("/runs/{run_id}", response_model=RunOut)
def get_run(run_id: int, access: ReviewerAccess, db: DbSession) -> Any:
    """The run: state, job progress while it trains, and its metrics once done."""
    run = service.get_run(db, access.project.id, run_id)
    return RunOut.of(run, service.run_job(db, run))


@router.get("/runs/{run_id}/predictions.csv", response_class=StreamingResponse, responses={200: {
    "description": "one row per image: " + ", ".join(predictions_csv.FIXED) + ", p_<class>..., out_of_fold, fold",
    "content": {"text/csv": {"schema": {"type": "string"}}}}})
def predictions(run_id: int, access: ReviewerAccess, db: DbSession) -> StreamingResponse:
    """Every image's prediction of the run, streamed as CSV."""
    run = service.get_run(db, access.project.id, run_id)

    def body() -> Any:
        with read_only_session(db) as reader:
            yield from predictions_csv.lines(reader, run)

    name = f"{access.project.name}-run-{run.number}-predictions.csv"
    return StreamingResponse(body(), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": content_disposition(name),
                                      "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})

"""Downloads of a run's model for the line (admins): the ONNX file and its model card."""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from app.auth.deps import AdminAccess
from app.core.db import DbSession
from app.core.storage import StorageDep
from app.datasets.downloads import content_disposition
from app.modeling import service
from app.modeling.export import ExportedModel, export_run

router = APIRouter(prefix="/api/v1/projects/{project_id}/models/runs/{run_id}", tags=["models"])
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "the run has no trained model (not done yet, failed or cancelled)"}}


def _export(run_id: int, access: AdminAccess, db: DbSession, storage: StorageDep) -> ExportedModel:
    run = service.get_run(db, access.project.id, run_id)
    return export_run(db, storage=storage, run=run)


def _file(body: bytes | str, name: str, media_type: str) -> Response:
    return Response(body, media_type=media_type, headers={
        "Content-Disposition": content_disposition(name), "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff"})


@router.get("/model.onnx", response_class=Response, responses={
    200: {"description": "the whole pipeline (features and head) as one ONNX model",
          "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
    **CONFLICT})
def model_onnx(run_id: int, access: AdminAccess, db: DbSession, storage: StorageDep) -> Response:
    """The run's model as ONNX: input "image" (1, 3, H, W) float32 RGB 0..255, output "probabilities"."""
    made = _export(run_id, access, db, storage)
    return _file(made.onnx, f"{made.file_stem}.onnx", "application/octet-stream")


@router.get("/model.card.md", response_class=Response, responses={
    200: {"description": "the model card", "content": {"text/markdown": {"schema": {"type": "string"}}}}, **CONFLICT})
def card_markdown(run_id: int, access: AdminAccess, db: DbSession, storage: StorageDep) -> Response:
    """The model card: dataset version and content hash, recipe, metrics with intervals, intended
    use, known weak slices and classes."""
    made = _export(run_id, access, db, storage)
    return _file(made.card_markdown, f"{made.file_stem}.card.md", "text/markdown; charset=utf-8")


@router.get("/model.card.json", responses=CONFLICT)
def card_json(run_id: int, access: AdminAccess, db: DbSession, storage: StorageDep) -> dict[str, Any]:
    """The model card as JSON (the same facts as model.card.md)."""
    return _export(run_id, access, db, storage).card

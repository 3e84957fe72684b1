"""GET /healthz: the app is up and its database answers."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app.core.access import public
from app.core.db import DbSession

router = APIRouter()


@router.get("/healthz", tags=["health"])
@public
def healthz(request: Request, db: DbSession) -> JSONResponse:
    db.execute(text("SELECT 1"))  # an unreachable database becomes a 503 via the error handler
    return JSONResponse({"status": "ok", "database": db.get_bind().dialect.name})

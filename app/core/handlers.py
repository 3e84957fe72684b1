"""Error responses: JSON for the API and for scripts' fetches, a readable page for people."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.errors import ConcordError, Unauthorized
from app.core.templating import render

log = logging.getLogger("concord")


@dataclass
class ErrorPage:
    status: int
    title: str
    message: str
    details: list[str]


def wants_json(request: Request) -> bool:
    if request.url.path.startswith("/api/") or request.url.path == "/healthz":
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_response(
    request: Request, status: int, body: Mapping[str, object], details: list[str] | None = None
) -> Response:
    if wants_json(request):
        return JSONResponse(body, status_code=status)
    page = ErrorPage(status=status, title=str(body.get("error", "Error")), message=str(body.get("message", "")),
                     details=details or [])
    return render(request, "error.html", page, status_code=status)


async def concord_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConcordError)
    if isinstance(exc, Unauthorized) and not wants_json(request):
        if request.method != "GET":  # a form sent after the session ended: log in again, then start over
            return RedirectResponse("/login?next=/", status_code=303)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    return error_response(request, exc.status_code, exc.as_json())


async def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path", "form")),
         "message": e.get("msg", "invalid")}
        for e in exc.errors()
    ]
    summary = "; ".join(f"{e['field'] or 'request'}: {e['message']}" for e in errors[:5])
    body = {"error": "Invalid input", "message": summary, "errors": errors}
    return error_response(request, 422, body, [f"{e['field']}: {e['message']}" for e in errors])


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 400: "Bad request", 413: "Too large"}
    body = {"error": titles.get(exc.status_code, "Error"), "message": str(exc.detail)}
    response = error_response(request, exc.status_code, body)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def database_unavailable(request: Request, exc: Exception) -> Response:
    log.error("database unavailable: %s", exc)
    body = {"error": "Service unavailable", "message": "the database is not answering; try again shortly"}
    response = error_response(request, 503, body)
    response.headers["retry-after"] = "5"
    return response


async def unstorable_value(request: Request, exc: Exception) -> Response:
    """A value no column can hold (an id past 2**31 on Postgres or 2**63 on SQLite, found by fuzzing
    routes that take a bare `int`): the input is wrong, not the server."""
    log.info("refused a value the database cannot store: %s", str(exc).splitlines()[0][:200])
    body = {"error": "Invalid input", "message": "a value is out of the range the database can store"}
    return error_response(request, 422, body)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ConcordError, concord_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(PoolTimeout, database_unavailable)
    app.add_exception_handler(DataError, unstorable_value)
    app.add_exception_handler(OverflowError, unstorable_value)

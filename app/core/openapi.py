"""The OpenAPI description of the JSON API tells the truth about errors and authentication.

FastAPI documents only a route's success and a `{"detail": [...]}` 422, but every JSON error Concord
sends is the body of app.core.errors / app.core.handlers: {"error", "message", "field"?, "detail"?,
"errors"?}, with the statuses listed below. Every route but the `@public` ones needs a Bearer token
(or a browser session), which the `bearer` security scheme says. Schemathesis (tests/api_schema)
checks the API against this description, so a lie here fails the suite.
"""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.core.access import is_public

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {"type": "string", "description": "the kind of error, e.g. 'Invalid input'"},
        "message": {"type": "string", "description": "what was wrong, for a person"},
        "field": {"type": "string", "description": "the input that was wrong, when one was"},
        "detail": {"description": "machine-readable state, e.g. the current version on a 409"},
        "errors": {"type": "array", "items": {"type": "object"}, "description": "each invalid field (422)"},
    },
}
# Status -> when it happens. Every API operation can answer these:
ALWAYS = {
    "400": "the body could not be read (malformed JSON or form)",
    "401": "no valid API token or session",
    "403": "the caller's role is too low (or a browser write without its CSRF token)",
    "404": "no such object in this project (or the caller is not a member of it)",
    "422": "invalid input; `field` or `errors` name it",
    "503": "the database or the storage is not answering; try again",
}
# ...and operations that change state also these:
WRITES = {
    "409": "the object changed meanwhile; `detail` holds its current state",
    "413": "the body, a file, or a count is over its limit",
}
STATE_CHANGING = {"post", "put", "patch", "delete"}


def install(app: FastAPI) -> None:
    """Make `app.openapi()` return the corrected description (built once, then cached)."""
    public_paths = {(route.path, method.lower()) for route in app.routes if isinstance(route, APIRoute)
                    for method in route.methods or () if is_public(route.endpoint)}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            describe_errors(schema, public_paths)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def describe_errors(schema: dict[str, Any], public_paths: set[tuple[str, str]]) -> None:
    components = schema.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer",
                                                "description": "an API token made on /account (cnc_...)"}}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in schema.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue  # pages answer people (an HTML error page); the contract is the JSON API
        for method, operation in operations.items():
            if method not in STATE_CHANGING | {"get"}:
                continue
            responses = operation.setdefault("responses", {})
            wanted = {**ALWAYS, **(WRITES if method in STATE_CHANGING else {})}
            if (path, method) in public_paths:
                wanted.pop("401"), wanted.pop("403")
            else:
                operation["security"] = [{"bearer": []}]
            for status, why in wanted.items():
                declared = responses.get(status)
                if declared is not None and declared.get("description") != "Validation Error":
                    continue  # the route documents this status itself (its own body, maybe)
                responses[status] = {"description": why, "content": error}

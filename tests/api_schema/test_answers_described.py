"""Every JSON answer of the API names its fields in /openapi.json (a response model, not a bare dict),
so clients and the schema fuzzing check what comes back."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI

# Free-form by nature: a datasheet and a model card are documents of their own.
FREE_FORM = {
    ("get", "/api/v1/projects/{project_id}/datasets/{version_id}/datasheet"),
    ("get", "/api/v1/projects/{project_id}/models/runs/{run_id}/model.card.json"),
}


def _untyped(schema: dict[str, Any]) -> bool:
    """An object whose fields nobody named (`dict[str, Any]`); `dict[str, int]` and models are typed."""
    if schema.get("type") == "array":
        return _untyped(schema.get("items", {}))
    return schema.get("type") == "object" and "properties" not in schema and \
        schema.get("additionalProperties", True) in (True, {})


def test_no_api_answer_is_a_bare_object(app: FastAPI) -> None:
    bare = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            if not path.startswith("/api/") or (method, path) in FREE_FORM:
                continue
            for status, response in operation.get("responses", {}).items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if status.startswith("2") and schema is not None and _untyped(schema):
                    bare.append(f"{method.upper()} {path} {status}")
    assert bare == []


def test_the_check_sees_a_bare_object() -> None:
    assert _untyped({"type": "object", "additionalProperties": True})
    assert _untyped({"type": "array", "items": {"type": "object"}})
    assert not _untyped({"type": "object", "additionalProperties": {"type": "integer"}})
    assert not _untyped({"$ref": "#/components/schemas/DriftReportOut"})

"""Admin-supplied ONNX backbones for the onnx-linear recipe: validated on upload, kept in storage under the
project, named by their content hash (uploading the same file twice stores it once)."""
from __future__ import annotations

import re
from typing import Any

from app.core.errors import Invalid
from app.core.storage import Storage
from app.training import backbone


def key_for(project_id: int, sha256: str) -> str:
    return f"models/{project_id}/backbones/{sha256}.onnx"


def save(storage: Storage, *, project_id: int, data: bytes) -> dict[str, Any]:
    """Validate the file (app.training.backbone.inspect) and store it; Invalid saying what is wrong
    with it otherwise (nothing stored). Returns {"backbone", "sha256", "input", "dimension", "pooling"}."""
    try:
        spec, _graph = backbone.inspect(data)
    except ValueError as exc:
        raise Invalid(str(exc), field="backbone") from exc
    key = key_for(project_id, spec.sha256)
    if not storage.exists(key):
        storage.put_bytes(key, data)
    return {"backbone": key, "sha256": spec.sha256, "input": f"{spec.height}x{spec.width}",
            "dimension": spec.dimension, "pooling": spec.pooling, "size_bytes": len(data)}


def read(storage: Storage, *, project_id: int, key: str) -> bytes:
    """The bytes of a backbone this project uploaded; Invalid for any other key (a run never reads
    another project's files, nor anything else in storage)."""
    if not re.fullmatch(rf"models/{project_id}/backbones/[0-9a-f]{{64}}\.onnx", key) or not storage.exists(key):
        raise Invalid("no such backbone in this project: upload the ONNX file first", field="backbone")
    with storage.open(key) as handle:
        return handle.read()

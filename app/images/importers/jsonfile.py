"""Reading an import's JSON file: a clear Invalid (naming the file) for anything that is not UTF-8 JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.core.errors import Invalid


def read_json(path: Path, *, field: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise Invalid(f"{path.name} is not UTF-8 text", field=field) from None
    except json.JSONDecodeError as exc:
        raise Invalid(f"{path.name} is not valid JSON (line {exc.lineno}: {exc.msg})", field=field) from None
    except OSError as exc:
        raise Invalid(f"{path.name} cannot be read ({exc.strerror})", field=field) from None

"""Reading an import's JSON file: a clear Invalid (naming the file) for anything that is not UTF-8 JSON,
including JSON nested too deep or with integers too long to convert (reliability #50)."""

from __future__ import annotations

import json
import math
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
    except RecursionError:
        raise Invalid(f"{path.name} is nested too deeply", field=field) from None
    except ValueError as exc:  # an integer of more than sys.get_int_max_str_digits() digits
        raise Invalid(f"{path.name} cannot be read ({exc})", field=field) from None
    except OSError as exc:
        raise Invalid(f"{path.name} cannot be read ({exc.strerror})", field=field) from None


def is_finite_number(value: Any) -> bool:
    """A JSON number (not a boolean) that is a finite float; integers too large for a float are not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False

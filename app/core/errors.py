"""One family of errors that carry their HTTP status; one handler renders them as JSON or a page."""
from __future__ import annotations

from typing import Any


class ConcordError(Exception):
    status_code = 400
    title = "Bad request"

    def __init__(self, message: str, *, field: str | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field  # which input was wrong, when one was
        self.detail = detail  # extra machine-readable state, e.g. the current version on a 409

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.title, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.detail is not None:
            body["detail"] = self.detail
        return body


class Invalid(ConcordError):
    status_code = 422
    title = "Invalid input"


class Unauthorized(ConcordError):
    status_code = 401
    title = "Login required"


class Forbidden(ConcordError):
    status_code = 403
    title = "Forbidden"


class NotFound(ConcordError):
    status_code = 404
    title = "Not found"


class Conflict(ConcordError):
    status_code = 409
    title = "Conflict"


class TooLarge(ConcordError):
    status_code = 413
    title = "Too large"


class UnsupportedMedia(ConcordError):
    status_code = 415
    title = "Unsupported file type"


class TooManyRequests(ConcordError):
    status_code = 429
    title = "Too many requests"


class ConfigError(Exception):
    """Bad configuration found at start-up; `setting` names the environment variable to fix."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting

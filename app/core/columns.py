"""Column helpers shared by every domain's models."""
from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import UTCDateTime, utcnow


def one_of(column: str, values: type[StrEnum]) -> CheckConstraint:
    """CHECK that `column` holds one of the enum's values (portable: no native enum types)."""
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=f"{column}_valid")


def created_at_column() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, default=utcnow, server_default=func.now(), nullable=False)

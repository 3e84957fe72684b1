"""Request bodies of the analysis API (answers are the services' own JSON forms)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.analysis.augment_service import MAX_PER_IMAGE
from app.analysis.predictions import MODEL_NAME_MAX

RankBy = Literal["self_confidence", "normalized_margin"]


class ReferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    batch_id: int


class SendIssuesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str | None = Field(default=None, max_length=MODEL_NAME_MAX)
    limit: int | None = Field(default=None, ge=1, le=100_000)
    rank_by: RankBy = "self_confidence"


class AugmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    class_name: str = Field(alias="class", min_length=1, max_length=80)
    per_image: int = Field(ge=1, le=MAX_PER_IMAGE)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    limit: int | None = Field(default=None, ge=1, le=100_000)

"""JSON shapes of the identity API. Inputs list exactly what a caller may set: any other field in a body
(`is_site_admin` in a member body, `role` in a token body...) is ignored, never assigned (#16).
Outputs never carry a password hash or a token hash (#17).
"""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.auth.models import Role
from app.projects.models import TaskType


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class UserOut(_Out):
    id: int
    email: str
    display_name: str
    is_site_admin: bool
    is_active: bool
    created_at: datetime


class MeOut(UserOut):
    auth: str = Field(description="how this request authenticated: session or token")


class UserIn(_In):
    email: str = Field(max_length=254)
    display_name: str = Field(default="", max_length=120)
    password: str | None = Field(default=None, max_length=1024,
                                 description="initial password; without one the account cannot log in yet")
    is_site_admin: bool = False


class ProjectOut(_Out):
    id: int
    name: str
    description: str
    task_type: TaskType
    labels_per_image: int
    role: Role | None = Field(default=None, description="the caller's role in the project")


class ClassIn(_In):
    name: str = Field(min_length=1, max_length=80)
    hotkey: str | None = Field(default=None, max_length=1)
    colour: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    definition: str = Field(default="", max_length=5000)


class ProjectIn(_In):
    name: str = Field(min_length=1, max_length=120)
    classes: list[ClassIn | str] = Field(min_length=1, max_length=100)
    task_type: TaskType = TaskType.both
    description: str = Field(default="", max_length=2000)
    labels_per_image: int = Field(default=1, ge=1, le=20)


class MemberOut(_Out):
    user_id: int
    email: str
    display_name: str
    role: Role
    is_active: bool
    added_at: datetime


class MemberIn(_In):
    email: str = Field(max_length=254)
    role: Role = Role.inspector


class RoleIn(_In):
    role: Role


class TokenOut(_Out):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_reason: str | None = Field(description="revoked, password_changed or password_reset")


class TokenCreated(TokenOut):
    token: str = Field(description="the token itself; shown this once, stored only as a hash")


class TokenIn(_In):
    name: str = Field(min_length=1, max_length=120)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650,
                                        description="lifetime in days (default 30, at most the site maximum)")

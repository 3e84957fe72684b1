"""Project memberships as project admins manage them (pages and API). Nothing here commits.

Every lookup is by (project, user): a user id from another project is NotFound, never a hit.
A project admin cannot leave a project without an admin (site admins administer every project, so
they may).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.auth.models import Membership, Role, User
from app.auth.service import get_user_by_email
from app.core import audit
from app.core.errors import Conflict, Invalid, NotFound
from app.core.listing import Filter, Filtering, FilterSet, Sorting, SortOrder

MEMBER_SORT = Sorting({"email": User.email, "name": User.display_name, "role": Membership.role,
                       "added": Membership.created_at}, default="email", tiebreak=User.id)
MEMBER_FILTER = Filtering({"role": Filter(Membership.role, Role)})


@dataclass(frozen=True)
class Member:
    user_id: int
    email: str
    display_name: str
    role: Role
    is_active: bool
    added_at: datetime


def list_members(db: Session, *, project_id: int, order: SortOrder | None = None,
                 filters: FilterSet | None = None) -> list[Member]:
    query = select(User, Membership).join(Membership, Membership.user_id == User.id).where(
        Membership.project_id == project_id)
    query = (order or MEMBER_SORT.default).apply(query)
    if filters is not None:
        query = filters.apply(query)
    return [_member(user, membership) for user, membership in db.execute(query).all()]


def get_member(db: Session, *, project_id: int, user_id: int) -> Member:
    user, membership = _find(db, project_id, user_id)
    return _member(user, membership)


def add_member(db: Session, *, project_id: int, email: str, role: Role, actor: User) -> Member:
    """Raises Invalid for an unknown email, Conflict (with the current role) for a member already."""
    user = get_user_by_email(db, email)
    if user is None:
        raise Invalid(f"no user with email {email.strip()!r}; a site admin creates accounts", field="email")
    existing = db.scalar(select(Membership).where(Membership.project_id == project_id,
                                                  Membership.user_id == user.id))
    if existing is not None:
        raise Conflict(f"{user.email} is already a member ({existing.role})", field="email",
                       detail={"user_id": user.id, "role": existing.role})
    membership = Membership(user_id=user.id, project_id=project_id, role=Role(role))
    db.add(membership)
    db.flush()
    audit.record(db, action="member.added", actor_id=actor.id, project_id=project_id, object_type="user",
                 object_id=user.id, data={"role": str(role)})
    return _member(user, membership)


def change_role(db: Session, *, project_id: int, user_id: int, role: Role, actor: User) -> Member:
    """Raises NotFound for a non-member, Conflict when it would leave the project without an admin."""
    user, membership = _find(db, project_id, user_id)
    previous = Role(membership.role)
    if previous != role:
        if previous == Role.admin:
            _keep_an_admin(db, project_id, actor, "demote")
        membership.role = Role(role)
        db.flush()
        audit.record(db, action="role.changed", actor_id=actor.id, project_id=project_id, object_type="user",
                     object_id=user.id, data={"from": str(previous), "to": str(role)})
    return _member(user, membership)


def remove_member(db: Session, *, project_id: int, user_id: int, actor: User) -> None:
    """Raises NotFound for a non-member, Conflict when it would leave the project without an admin."""
    user, membership = _find(db, project_id, user_id)
    if membership.role == Role.admin:
        _keep_an_admin(db, project_id, actor, "remove")
    db.delete(membership)
    db.flush()
    audit.record(db, action="member.removed", actor_id=actor.id, project_id=project_id, object_type="user",
                 object_id=user.id, data={"role": membership.role})


def _find(db: Session, project_id: int, user_id: int) -> tuple[User, Membership]:
    row = db.execute(select(User, Membership).join(Membership, Membership.user_id == User.id).where(
        Membership.project_id == project_id, Membership.user_id == user_id)).first()
    if row is None:
        raise NotFound("member not found")
    return row[0], row[1]


def _keep_an_admin(db: Session, project_id: int, actor: User, verb: str) -> None:
    if actor.is_site_admin:
        return
    admins = db.scalar(select(func.count()).select_from(Membership).where(
        Membership.project_id == project_id, Membership.role == Role.admin)) or 0
    if admins <= 1:
        raise Conflict(f"cannot {verb} the project's last admin; make someone else admin first")


def _member(user: User, membership: Membership) -> Member:
    return Member(user_id=user.id, email=user.email, display_name=user.display_name, role=Role(membership.role),
                  is_active=user.is_active, added_at=membership.created_at)


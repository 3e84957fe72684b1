"""The project's sections, shown to each member as far as their role reaches."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from app.auth.models import Role


@dataclass(frozen=True)
class Section:
    key: str
    label: str
    path: str  # with {project_id}
    role: Role
    hint: str


SECTIONS = (
    Section("label", "Label", "/projects/{project_id}/label", Role.inspector, "Your labeling queue"),
    Section("book", "Defect book", "/projects/{project_id}/defect-book", Role.inspector,
            "Class definitions and examples"),
    Section("feedback", "My feedback", "/projects/{project_id}/feedback", Role.inspector,
            "Where reviewers decided differently from you"),
    Section("review", "Review", "/projects/{project_id}/review", Role.reviewer, "The conflict queue, worst first"),
    Section("images", "Images", "/projects/{project_id}/images", Role.reviewer,
            "Browse every image, its labels and where its final label came from"),
    Section("agreement", "Agreement", "/projects/{project_id}/agreement", Role.reviewer,
            "Alpha, kappas, confused class pairs, labeler quality"),
    Section("analysis", "Analysis", "/projects/{project_id}/analysis", Role.reviewer, "Slices, drift, label issues"),
    Section("models", "Models", "/projects/{project_id}/models", Role.reviewer,
            "Train on a frozen version, read its errors, compare runs"),
    Section("datasets", "Datasets", "/projects/{project_id}/datasets", Role.admin, "Freeze and export versions"),
    Section("upload", "Upload", "/projects/{project_id}/upload", Role.admin, "Add images"),
    Section("overlap", "Overlap", "/projects/{project_id}/overlap", Role.admin, "Labels per image, QA, gold"),
    Section("rules", "Rules", "/projects/{project_id}/labeling-rules", Role.admin,
            "Minimum viewing time, fast labelers, boxes per class"),
    Section("members", "Members", "/projects/{project_id}/members", Role.admin, "Who labels, reviews, administers"),
)


@dataclass(frozen=True)
class NavLink:
    key: str
    label: str
    url: str
    hint: str


@lru_cache(maxsize=8)
def _page_paths(app: FastAPI) -> frozenset[str]:
    return frozenset(c.path for c in iter_route_contexts(app.routes) if c.path and "GET" in (c.methods or ()))


def sections_for(app: FastAPI, *, project_id: int, role: Role) -> list[NavLink]:
    """The sections this role may open (a section whose page is not installed is left out)."""
    paths = _page_paths(app)
    return [NavLink(s.key, s.label, s.path.format(project_id=project_id), s.hint)
            for s in SECTIONS if role.rank >= s.role.rank and s.path in paths]

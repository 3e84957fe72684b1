"""Reviewers' pages on images: the browser (a filtered grid of thumbnails), one image with its whole
label story, and the "flag for review" form."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from app.auth.deps import ReviewerAccess
from app.core.db import DbSession
from app.core.errors import Conflict as ConflictError
from app.core.errors import Invalid
from app.core.flash import redirect_with_flash
from app.core.templating import render
from app.images import browse
from app.images.media import thumbnail_url
from app.images.pages import ImageView, image_view
from app.projects.models import Project
from app.projects.navigation import NavLink, sections_for
from app.review import flags
from app.review.schemas import MAX_REASON

router = APIRouter(tags=["images"])


def browse_filters(
    class_: Annotated[str | None, Query(alias="class", max_length=12, description="final label class id")] = None,
    source: Annotated[str | None, Query(max_length=20, description="unanimous, consensus, review, gold or none")]
    = None,
    conflict: Annotated[str | None, Query(max_length=8, description="open or none")] = None,
    labeler: Annotated[str | None, Query(max_length=12, description="a labeler's user id")] = None,
    line: Annotated[str | None, Query(max_length=100)] = None,
    camera: Annotated[str | None, Query(max_length=100)] = None,
    shift: Annotated[str | None, Query(max_length=100)] = None,
    batch: Annotated[str | None, Query(max_length=100)] = None,
    q: Annotated[str | None, Query(max_length=200, description="part of the file name")] = None,
) -> browse.BrowseFilters:
    return browse.BrowseFilters.parse({"class": class_, "source": source, "conflict": conflict, "labeler": labeler,
                                       "line": line, "camera": camera, "shift": shift, "batch": batch, "q": q})


Filters = Annotated[browse.BrowseFilters, Depends(browse_filters)]
KeysetId = Annotated[int | None, Query(ge=0, le=2**53)]


@dataclass
class BrowserPage:
    project: Project
    sections: list[NavLink]
    found: browse.BrowsePage
    thumbs: dict[int, str]
    base: str  # /projects/{id}/images
    meta_keys: tuple[str, ...] = browse.META_KEYS
    sources: tuple[str, ...] = browse.SOURCES


@dataclass
class ImagePage:
    view: ImageView
    sections: list[NavLink]
    base: str  # /projects/{id}/images
    query: str  # the browser's filters, kept while moving through it
    note: str = ""  # the reviewer's flag note, kept after an error
    error: str | None = None


@router.get("/projects/{project_id}/images", response_class=HTMLResponse)
def images_browser(request: Request, access: ReviewerAccess, db: DbSession, filters: Filters,
                   after: KeysetId = None, before: KeysetId = None) -> HTMLResponse:
    found = browse.browse_page(db, project_id=access.project.id, filters=filters, after=after, before=before)
    return render(request, "images/browse.html", BrowserPage(
        project=access.project, found=found, base=f"/projects/{access.project.id}/images",
        sections=sections_for(request.app, project_id=access.project.id, role=access.role),
        thumbs={t.image.id: thumbnail_url(t.image) for t in found.tiles if t.image.thumbnail_key}))


def _image_page(request: Request, db: DbSession, access: ReviewerAccess, image_id: int,
                filters: browse.BrowseFilters, **extra: str | None) -> ImagePage:
    return ImagePage(view=image_view(db, project=access.project, image_id=image_id, filters=filters),
                     sections=sections_for(request.app, project_id=access.project.id, role=access.role),
                     base=f"/projects/{access.project.id}/images", query=filters.query(), **extra)  # type: ignore[arg-type]


@router.get("/projects/{project_id}/images/{image_id}", response_class=HTMLResponse)
def image_page(request: Request, image_id: int, access: ReviewerAccess, db: DbSession,
               filters: Filters) -> HTMLResponse:
    return render(request, "images/image.html", _image_page(request, db, access, image_id, filters))


@router.post("/projects/{project_id}/images/{image_id}/flag", response_model=None)
def flag_image(request: Request, image_id: int, access: ReviewerAccess, db: DbSession, filters: Filters,
               note: Annotated[str, Form(max_length=MAX_REASON)] = "") -> HTMLResponse | RedirectResponse:
    """POST → 303 back to the image with the flag shown; an empty note (422) or a pending flag (409)
    shows the page again with the message and the note kept."""
    try:
        conflict = flags.flag_image(db, project=access.project, image_id=image_id, reviewer=access.user, note=note)
        db.commit()
    except (Invalid, ConflictError) as exc:
        db.rollback()
        page = _image_page(request, db, access, image_id, filters, note=note, error=exc.message)
        return render(request, "images/image.html", page, status_code=exc.status_code)
    target = f"/projects/{access.project.id}/images/{image_id}?{filters.query()}"
    return redirect_with_flash(request, target, f"Flagged for review: conflict {conflict.id} is in the queue.")

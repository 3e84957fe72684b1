"""A reviewer sees feedback of the project's labelers only (finding 4): any other account id, a site admin's
or a missing one, is a 404 like every foreign id, on the page and in the API, and no name leaks."""
from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth.models import Membership, User
from tests.factories import class_named, make_annotation, make_image, make_user
from tests.security.fill import World


def test_a_reviewer_reads_feedback_of_the_projects_labelers_only(db: Session, world: World,
                                                                client_for: Callable[[User], TestClient]) -> None:
    a, b = world.side(db, "a"), world.side(db, "b")
    site_admin = world.user(db, "site_admin")
    reviewer = client_for(a.reviewer)
    former = make_user(db, password=None, name="Former Labeler")  # answered in A, membership removed since
    make_annotation(db, make_image(db, a.project), former, class_named(db, a.project, "dent"))
    pages = f"/projects/{a.project.id}/feedback"
    api = f"/api/v1/projects/{a.project.id}/feedback"
    for labeler in (a.inspector, former):
        page = reviewer.get(pages, params={"labeler": labeler.id})
        assert page.status_code == 200 and labeler.display_name in page.text
        assert reviewer.get(api, params={"labeler_id": labeler.id}).status_code == 200
    assert db.query(Membership).filter_by(user_id=former.id).count() == 0
    for stranger, name in ((b.inspector, b.inspector.display_name), (site_admin, site_admin.display_name),
                           (None, "user 9999")):
        user_id = stranger.id if stranger else 9999
        page = reviewer.get(pages, params={"labeler": user_id})
        assert page.status_code == 404 and name not in page.text
        response = reviewer.get(api, params={"labeler_id": user_id})
        assert response.status_code == 404 and name not in response.text


def test_an_inspector_still_gets_403_for_someone_else_and_200_for_themselves(
        db: Session, world: World, client_for: Callable[[User], TestClient]) -> None:
    a = world.side(db, "a")
    inspector = client_for(a.inspector)
    assert inspector.get(f"/projects/{a.project.id}/feedback", params={"labeler": a.reviewer.id}).status_code == 403
    assert inspector.get(f"/projects/{a.project.id}/feedback").status_code == 200
    site_admin = world.user(db, "site_admin")
    assert client_for(site_admin).get(f"/projects/{a.project.id}/feedback").status_code == 200  # their own

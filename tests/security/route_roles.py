"""The minimum role of every route (reliability #19), kept by hand and checked against the real router.

tests/security/test_role_matrix.py lists every route of `create_app()` and fails when one is missing
here, or listed here but gone; then it calls each route as anonymous, a non-member, an inspector, a
reviewer and an admin of the route's project, and a site admin, and checks who gets through.

Levels (each includes the rights of the ones below it, except where noted):
  "public"      anyone, logged in or not; the endpoint is marked @public in code
  "user"        any logged-in user (their own account, tokens, the list of their projects)
  "inspector"   a member of the path's project with at least this role; non-members get 404
  "reviewer"    ...at least reviewer (inspectors get 403)
  "admin"       ...project admin (inspectors and reviewers get 403); site admins are admin everywhere
  "site_admin"  only users with the site-admin flag (everyone else logged in gets 403)

ADDING A ROUTE: add one line `"METHOD /path/{param}": LEVEL,` in your domain's block below (keep the
blocks: one per domain). Path parameters other than project_id are filled with real
objects by tests/security/fill.py (FILLERS, by parameter name); add a filler there if yours is new.
Optionally add a valid body to SAMPLE_BODIES so the tests also exercise the route's real work (and the
IDOR test sends a body the route would accept, proving the 404 comes from scoping, not validation).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

PUBLIC, USER, INSPECTOR, REVIEWER, ADMIN, SITE_ADMIN = "public", "user", "inspector", "reviewer", "admin", "site_admin"
LEVELS = (PUBLIC, USER, INSPECTOR, REVIEWER, ADMIN, SITE_ADMIN)

ROUTE_ROLES: dict[str, str] = {
    # ---- core (lead) -------------------------------------------------------------------------------------
    "GET /healthz": PUBLIC,
    "GET /docs": PUBLIC,
    "GET /docs/assets/{asset}": PUBLIC,  # the explorer's CSS and JS, from the swagger-ui-bundle-v2 package
    "GET /openapi.json": PUBLIC,  # the API description (no data); not an APIRoute, allowlisted in walk.py
    # ---- identities and access ----------------------------------------------------------------
    "GET /login": PUBLIC,
    "POST /login": PUBLIC,
    "POST /logout": USER,
    "GET /account": USER,
    "POST /account/password": USER,
    "POST /account/tokens": USER,
    "POST /account/tokens/{token_id}/revoke": USER,
    "POST /account/sessions/revoke": USER,
    "GET /admin": SITE_ADMIN,
    "GET /admin/users": SITE_ADMIN,
    "POST /admin/users": SITE_ADMIN,
    "POST /admin/users/{user_id}/active": SITE_ADMIN,
    "GET /admin/projects": SITE_ADMIN,
    "POST /admin/projects": SITE_ADMIN,
    "GET /projects/{project_id}/members": ADMIN,
    "POST /projects/{project_id}/members": ADMIN,
    "POST /projects/{project_id}/members/{user_id}/role": ADMIN,
    "POST /projects/{project_id}/members/{user_id}/remove": ADMIN,
    "GET /api/v1/me": USER,
    "GET /api/v1/projects": USER,
    "POST /api/v1/projects": SITE_ADMIN,
    "GET /api/v1/users": SITE_ADMIN,
    "POST /api/v1/users": SITE_ADMIN,
    "GET /api/v1/projects/{project_id}/members": ADMIN,
    "POST /api/v1/projects/{project_id}/members": ADMIN,
    "PATCH /api/v1/projects/{project_id}/members/{user_id}": ADMIN,
    "DELETE /api/v1/projects/{project_id}/members/{user_id}": ADMIN,
    "GET /api/v1/tokens": USER,
    "POST /api/v1/tokens": USER,
    "DELETE /api/v1/tokens/{token_id}": USER,
    # ---- projects ----------------------------------------------------------------------------------------
    "GET /": USER,
    "GET /projects/{project_id}": INSPECTOR,
    # ---- defect book and taxonomy ------------------------------------------------------------------------
    "GET /projects/{project_id}/defect-book": INSPECTOR,
    "POST /projects/{project_id}/defect-book/classes/{class_id}/definition": REVIEWER,
    "GET /projects/{project_id}/defect-book/relabel": REVIEWER,
    "POST /projects/{project_id}/defect-book/relabel": REVIEWER,
    "POST /projects/{project_id}/defect-book/examples": REVIEWER,
    "POST /projects/{project_id}/defect-book/examples/{example_id}/remove": REVIEWER,
    "POST /projects/{project_id}/defect-book/taxonomy/rename": ADMIN,
    "POST /projects/{project_id}/defect-book/taxonomy/merge": ADMIN,
    "POST /projects/{project_id}/defect-book/taxonomy/split": ADMIN,
    "POST /projects/{project_id}/defect-book/versions/{version}/revert": ADMIN,
    "GET /api/v1/projects/{project_id}/defect-book": INSPECTOR,
    "GET /api/v1/projects/{project_id}/defect-book/class-mapping": INSPECTOR,
    "PUT /api/v1/projects/{project_id}/defect-book/classes/{class_id}/definition": REVIEWER,
    "POST /api/v1/projects/{project_id}/defect-book/examples": REVIEWER,
    "DELETE /api/v1/projects/{project_id}/defect-book/examples/{example_id}": REVIEWER,
    "POST /api/v1/projects/{project_id}/defect-book/relabel": REVIEWER,
    "POST /api/v1/projects/{project_id}/defect-book/taxonomy/rename": ADMIN,
    "POST /api/v1/projects/{project_id}/defect-book/taxonomy/merge": ADMIN,
    "POST /api/v1/projects/{project_id}/defect-book/taxonomy/split": ADMIN,
    "POST /api/v1/projects/{project_id}/defect-book/versions/{version}/revert": ADMIN,
    # ---- jobs ---------------------------------------------------------------------------------
    "GET /api/v1/projects/{project_id}/jobs/{job_id}": INSPECTOR,
    "GET /api/v1/projects/{project_id}/jobs": INSPECTOR,
    "GET /projects/{project_id}/jobs/{job_id}": INSPECTOR,
    "GET /projects/{project_id}/jobs": INSPECTOR,
    # whoever started the job, or an admin (others who may see it get 403, the rest 404)
    "POST /api/v1/projects/{project_id}/jobs/{job_id}/cancel": INSPECTOR,
    "POST /projects/{project_id}/jobs/{job_id}/cancel": INSPECTOR,
    # ---- images / labeling ---------------------------------------------------------------------
    "GET /projects/{project_id}/images/{image_id}/file": INSPECTOR,
    "GET /projects/{project_id}/images/{image_id}/thumb": INSPECTOR,
    "POST /api/v1/projects/{project_id}/images": ADMIN,
    "POST /api/v1/projects/{project_id}/batches": ADMIN,
    "GET /api/v1/projects/{project_id}/images": INSPECTOR,
    "GET /api/v1/projects/{project_id}/images/{image_id}": INSPECTOR,
    "GET /projects/{project_id}/upload": ADMIN,
    "POST /projects/{project_id}/upload": ADMIN,
    "POST /api/v1/projects/{project_id}/assignments/next": INSPECTOR,
    "POST /api/v1/projects/{project_id}/assignments/{assignment_id}/annotation": INSPECTOR,
    "POST /api/v1/projects/{project_id}/assignments/{assignment_id}/skip": INSPECTOR,
    "POST /api/v1/projects/{project_id}/assignments/{assignment_id}/shown": INSPECTOR,
    "POST /api/v1/projects/{project_id}/assignments/previous": INSPECTOR,
    "GET /api/v1/projects/{project_id}/labeling-rules": ADMIN,
    "PUT /api/v1/projects/{project_id}/labeling-rules": ADMIN,
    "GET /api/v1/projects/{project_id}/labeling/progress": INSPECTOR,
    "GET /api/v1/projects/{project_id}/overlap": ADMIN,
    "PUT /api/v1/projects/{project_id}/overlap": ADMIN,
    "GET /projects/{project_id}/label": INSPECTOR,
    "GET /projects/{project_id}/overlap": ADMIN,
    "POST /projects/{project_id}/overlap": ADMIN,
    "GET /projects/{project_id}/labeling-rules": ADMIN,
    "POST /projects/{project_id}/labeling-rules": ADMIN,
    # ---- consistency -------------------------------------------------------------------------------------
    "GET /projects/{project_id}/agreement": REVIEWER,
    "POST /projects/{project_id}/agreement/recompute": ADMIN,
    "GET /api/v1/projects/{project_id}/agreement": REVIEWER,
    "POST /api/v1/projects/{project_id}/agreement/recompute": ADMIN,
    "GET /api/v1/projects/{project_id}/labelers/quality": REVIEWER,
    "GET /api/v1/projects/{project_id}/images/{image_id}/consensus": REVIEWER,
    "GET /api/v1/projects/{project_id}/images/{image_id}/conflicts": REVIEWER,
    "GET /api/v1/projects/{project_id}/model-voice": REVIEWER,
    "PUT /api/v1/projects/{project_id}/model-voice": ADMIN,
    "POST /projects/{project_id}/models/{run_id}/voice": ADMIN,
    # ---- review --------------------------------------------------------------------------------
    "GET /projects/{project_id}/review": REVIEWER,
    "GET /projects/{project_id}/review/conflicts/{conflict_id}": REVIEWER,
    "POST /projects/{project_id}/review/conflicts/{conflict_id}/decide": REVIEWER,
    "POST /projects/{project_id}/review/conflicts/{conflict_id}/example": REVIEWER,
    "GET /projects/{project_id}/feedback": INSPECTOR,
    "GET /api/v1/projects/{project_id}/review/conflicts": REVIEWER,
    "GET /api/v1/projects/{project_id}/review/conflicts/{conflict_id}": REVIEWER,
    "POST /api/v1/projects/{project_id}/review/conflicts/{conflict_id}/decisions": REVIEWER,
    "POST /api/v1/projects/{project_id}/review/decisions/bulk": REVIEWER,
    "GET /api/v1/projects/{project_id}/review/conflicts/{conflict_id}/resolutions": REVIEWER,
    "GET /api/v1/projects/{project_id}/feedback": INSPECTOR,
    "GET /projects/{project_id}/images": REVIEWER,
    "GET /projects/{project_id}/images/{image_id}": REVIEWER,
    "POST /projects/{project_id}/images/{image_id}/flag": REVIEWER,
    "POST /api/v1/projects/{project_id}/images/{image_id}/flag": REVIEWER,
    # ---- datasets ------------------------------------------------------------------------------
    "GET /projects/{project_id}/datasets": ADMIN,
    "POST /projects/{project_id}/datasets": ADMIN,
    "GET /projects/{project_id}/datasets/diff": ADMIN,
    "GET /projects/{project_id}/datasets/{version_id}": ADMIN,
    "POST /projects/{project_id}/datasets/{version_id}/exports": ADMIN,
    "GET /projects/{project_id}/datasets/{version_id}/exports/{format}/download": ADMIN,
    "GET /projects/{project_id}/datasets/{version_id}/datasheet.md": ADMIN,
    "GET /projects/{project_id}/datasets/{version_id}/datasheet.json": ADMIN,
    "GET /api/v1/projects/{project_id}/datasets": ADMIN,
    "POST /api/v1/projects/{project_id}/datasets": ADMIN,
    "GET /api/v1/projects/{project_id}/datasets/diff": ADMIN,
    "GET /api/v1/projects/{project_id}/datasets/{version_id}": ADMIN,
    "GET /api/v1/projects/{project_id}/datasets/{version_id}/items": ADMIN,
    "GET /api/v1/projects/{project_id}/datasets/{version_id}/datasheet": ADMIN,
    "GET /api/v1/projects/{project_id}/datasets/{version_id}/exports": ADMIN,
    "POST /api/v1/projects/{project_id}/datasets/{version_id}/exports": ADMIN,
    "GET /api/v1/projects/{project_id}/datasets/{version_id}/exports/{format}": ADMIN,
    "GET /api/v1/projects/{project_id}/datasets/{version_id}/exports/{format}/download": ADMIN,
    "POST /projects/{project_id}/answers/export": ADMIN,
    "POST /api/v1/projects/{project_id}/answers/export": ADMIN,
    # ---- analysis ------------------------------------------------------------------------------
    "GET /projects/{project_id}/analysis": REVIEWER,
    "GET /projects/{project_id}/analysis/drift": REVIEWER,
    "POST /projects/{project_id}/analysis/drift/run": ADMIN,
    "POST /projects/{project_id}/analysis/drift/reference": ADMIN,
    "GET /projects/{project_id}/analysis/label-issues": REVIEWER,
    "POST /projects/{project_id}/analysis/predictions": ADMIN,
    "POST /projects/{project_id}/analysis/label-issues/send": REVIEWER,
    "POST /projects/{project_id}/analysis/augment": ADMIN,
    "GET /api/v1/projects/{project_id}/slices": REVIEWER,
    "GET /api/v1/projects/{project_id}/drift": REVIEWER,
    "POST /api/v1/projects/{project_id}/drift/run": ADMIN,
    "PUT /api/v1/projects/{project_id}/drift/reference": ADMIN,
    "POST /api/v1/projects/{project_id}/predictions": ADMIN,
    "GET /api/v1/projects/{project_id}/label-issues": REVIEWER,
    "POST /api/v1/projects/{project_id}/label-issues/send": REVIEWER,
    "POST /api/v1/projects/{project_id}/augment": ADMIN,
    # ---- models: runs (modeling core) ------------------------------------------------------------------
    "GET /api/v1/projects/{project_id}/models/recipes": REVIEWER,
    "POST /api/v1/projects/{project_id}/models/backbones": ADMIN,
    "POST /api/v1/projects/{project_id}/models/runs": ADMIN,
    "GET /api/v1/projects/{project_id}/models/runs": REVIEWER,
    "GET /api/v1/projects/{project_id}/models/runs/{run_id}": REVIEWER,
    "GET /api/v1/projects/{project_id}/models/runs/{run_id}/predictions.csv": REVIEWER,
    # ---- model pages -------------------------------------------------------------------------------------
    "GET /projects/{project_id}/models": REVIEWER,
    "POST /projects/{project_id}/models": ADMIN,
    "GET /projects/{project_id}/models/compare": REVIEWER,
    "GET /projects/{project_id}/models/{run_id}": REVIEWER,
    "POST /projects/{project_id}/models/{run_id}/send-to-review": REVIEWER,
    "POST /projects/{project_id}/models/{run_id}/capture-requests": REVIEWER,
    "POST /projects/{project_id}/models/capture-requests/{capture_id}/close": REVIEWER,
    # ---- models: compare, next steps, capture requests --------------------------------------------------
    "GET /api/v1/projects/{project_id}/models/compare": REVIEWER,
    "GET /api/v1/projects/{project_id}/models/runs/{run_id}/next-steps": REVIEWER,
    "POST /api/v1/projects/{project_id}/models/runs/{run_id}/send-to-review": REVIEWER,
    "GET /api/v1/projects/{project_id}/models/capture-requests": REVIEWER,
    "POST /api/v1/projects/{project_id}/models/capture-requests": REVIEWER,
    "POST /api/v1/projects/{project_id}/models/capture-requests/{capture_id}/close": REVIEWER,
    # ---- models: the model at the line (ops) -------------------------------------------------------------
    "GET /api/v1/projects/{project_id}/models/runs/{run_id}/model.onnx": ADMIN,
    "GET /api/v1/projects/{project_id}/models/runs/{run_id}/model.card.md": ADMIN,
    "GET /api/v1/projects/{project_id}/models/runs/{run_id}/model.card.json": ADMIN,
}

# Optional: "METHOD /path" -> a body the route accepts (dict, or a function of the Fill context giving one).
# Form routes get it form-encoded, JSON routes as JSON (decided from the route's declared body).
SAMPLE_BODIES: dict[str, dict[str, Any] | Callable[[Any], dict[str, Any]]] = {
    # images / labeling: sample bodies (uploads need files, which the walker does not send)
    "POST /api/v1/projects/{project_id}/batches": {"name": "matrix"},
    "POST /api/v1/projects/{project_id}/assignments/next": {"exclude": []},
    "POST /api/v1/projects/{project_id}/assignments/previous": {"exclude": []},
    "PUT /api/v1/projects/{project_id}/labeling-rules": {"min_view_ms": 700, "fast_median_ms": 1000},
    "PUT /api/v1/projects/{project_id}/overlap": {"labels_per_image": 2, "qa_fraction": 0.1, "qa_labels_per_image": 3},
    "POST /projects/{project_id}/overlap": {"labels_per_image": "2", "qa_fraction_percent": "10",
                                           "qa_labels_per_image": "3", "gold_rate_percent": "10"},
    # identities and access
    "POST /projects/{project_id}/members": lambda f: {"email": f.outsider().email, "role": "inspector"},
    "POST /projects/{project_id}/members/{user_id}/role": {"role": "reviewer"},
    "POST /api/v1/projects/{project_id}/members": lambda f: {"email": f.outsider().email, "role": "reviewer"},
    "PATCH /api/v1/projects/{project_id}/members/{user_id}": {"role": "reviewer"},
    "POST /account/tokens": {"name": "matrix"},
    "POST /admin/users/{user_id}/active": {"active": "false"},
    # models: capture requests
    "POST /api/v1/projects/{project_id}/models/capture-requests": {"slice": {"line": "L1"}, "wanted": 10},
    "POST /projects/{project_id}/models/{run_id}/voice": {"on": "false"},
    # datasets
    "POST /projects/{project_id}/datasets": {"name": "matrix", "exclude_ambiguous": "1", "train": "0.8", "val": "0.1",
                                             "test": "0.1"},
    "POST /api/v1/projects/{project_id}/datasets": {"name": "matrix"},
    "POST /projects/{project_id}/datasets/{version_id}/exports": {"format": "csv", "include_images": "0"},
    "POST /api/v1/projects/{project_id}/datasets/{version_id}/exports": {"format": "csv", "wait": True},
    "POST /projects/{project_id}/answers/export": {"pseudonyms": "1"},
    "POST /api/v1/projects/{project_id}/answers/export": {"pseudonyms": True},
    # review and the defect book
    "POST /projects/{project_id}/review/conflicts/{conflict_id}/decide": {"choice": "ambiguous", "version": "1"},
    "POST /projects/{project_id}/images/{image_id}/flag": {"note": "matrix"},
    "POST /api/v1/projects/{project_id}/images/{image_id}/flag": {"note": "matrix"},
    "POST /projects/{project_id}/review/conflicts/{conflict_id}/example":
        lambda f: {"label_class_id": f.label_class().id},
    "POST /api/v1/projects/{project_id}/review/conflicts/{conflict_id}/decisions":
        {"decision": "ambiguous", "version": 1},
    "POST /api/v1/projects/{project_id}/review/decisions/bulk": lambda f: (f.conflict(), {"rows": [
        {"file_name": f.image().file_name, "final_class": f.label_class().name}]})[1],
    "POST /projects/{project_id}/defect-book/classes/{class_id}/definition":
        {"definition": "matrix", "seen_version": "1"},
    "POST /projects/{project_id}/defect-book/relabel": lambda f: {"class_id": f.label_class().id, "version": "1"},
    "POST /projects/{project_id}/defect-book/examples": lambda f: {"label_class_id": f.label_class().id,
                                                                   "file_name": f.image().file_name},
    "POST /projects/{project_id}/defect-book/taxonomy/rename": lambda f: {"class_id": f.label_class().id,
                                                                          "name": "matrix"},
    "POST /projects/{project_id}/defect-book/taxonomy/merge": lambda f: {"source_id": f.label_class().id,
                                                                         "target_id": _other_class(f).id},
    "POST /projects/{project_id}/defect-book/taxonomy/split": lambda f: {"class_id": f.label_class().id,
                                                                         "name_a": "matrix a", "name_b": "matrix b"},
    "PUT /api/v1/projects/{project_id}/defect-book/classes/{class_id}/definition": {"definition": "matrix"},
    "POST /api/v1/projects/{project_id}/defect-book/examples": lambda f: {"label_class_id": f.label_class().id,
                                                                          "image_id": f.image().id},
    "POST /api/v1/projects/{project_id}/defect-book/relabel": lambda f: {"class_id": f.label_class().id, "version": 1},
    "POST /api/v1/projects/{project_id}/defect-book/taxonomy/rename": lambda f: {"class_id": f.label_class().id,
                                                                                 "name": "matrix"},
    "POST /api/v1/projects/{project_id}/defect-book/taxonomy/merge": lambda f: {"source_id": f.label_class().id,
                                                                                "target_id": _other_class(f).id},
    "POST /api/v1/projects/{project_id}/defect-book/taxonomy/split": lambda f: {
        "class_id": f.label_class().id, "into": [{"name": "matrix a"}, {"name": "matrix b"}]},
}


def _other_class(f: Any) -> Any:
    """A second class of the fill's project (the last one), for merges."""
    from app.projects.models import LabelClass

    return f.db.query(LabelClass).filter_by(project_id=f.project.id).order_by(LabelClass.position.desc()).first()

"""/docs: the API explorer (Swagger UI), its files served from the installed `swagger-ui-bundle-v2`
package: no CDN and no outside origin in the CSP (plants have no internet).

Only the two files the page loads are served, from the package's directory; the explorer is started
by /static/js/swagger-init.js (the CSP forbids inline script).
"""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse
from swagger_ui_bundle import swagger_ui_path

from app.core.access import public
from app.core.errors import NotFound

router = APIRouter(include_in_schema=False)
ASSETS = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript"}
CACHE = "public, max-age=86400"

PAGE = """<!doctype html>
<html lang="en"><head><title>Concord API</title><meta charset="utf-8">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/static/js/swagger-init.js"></script></body></html>"""


@router.get("/docs", response_class=HTMLResponse)
@public
def docs() -> HTMLResponse:
    return HTMLResponse(PAGE)


@router.get("/docs/assets/{asset}")
@public
def docs_asset(asset: str) -> FileResponse:
    """One of the explorer's files (ASSETS), else 404."""
    if asset not in ASSETS:
        raise NotFound("no such file of the API explorer")
    return FileResponse(str(swagger_ui_path / asset), media_type=ASSETS[asset], headers={"cache-control": CACHE})

"""create_app(): settings, database, middleware, routers, static files, error handlers."""
from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.auth import views as auth_views
from app.auth.deps import guard
from app.core import handlers, health
from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_sessionmaker
from app.core.limits import BodyLimitMiddleware
from app.core.security import SecurityHeadersMiddleware
from app.core.storage import make_storage
from app.core.templating import TEMPLATES_DIR
from app.projects import views as project_views

STATIC_DIR = TEMPLATES_DIR.parent / "static"

# Every router of the product, in one list; `guard` applies to all of their routes.
ROUTERS = [
    health.router,
    auth_views.router,
    project_views.router,
]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Concord",
        summary="Labeling and review platform for consistent visual-inspection labels",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(guard)],
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url)
    app.state.sessionmaker = make_sessionmaker(app.state.engine)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.state.secret_key = settings.resolved_secret_key()
    app.state.storage = make_storage(settings)

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    handlers.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(SWAGGER_PAGE)

    docs.__concord_public__ = True  # type: ignore[attr-defined]
    return app


# The API explorer: Swagger UI from its CDN, started by a static script (no inline script).
SWAGGER_PAGE = """<!doctype html>
<html><head><title>Concord API</title><meta charset="utf-8">
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script src="/static/js/swagger-init.js"></script></body></html>"""

"""create_app(): settings, database, middleware, routers, static files, error handlers."""
from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from app.analysis import api as analysis_api
from app.analysis import views as analysis_views
from app.auth import account_views, admin_views, member_views
from app.auth import api as auth_api
from app.auth import views as auth_views
from app.auth.deps import guard
from app.consistency import api as consistency_api
from app.consistency import views as consistency_views
from app.consistency import voice_api as consistency_voice_api
from app.core import docs, handlers, health, openapi
from app.core.config import Settings, get_settings
from app.core.db import make_engine, make_sessionmaker
from app.core.limits import BodyLimitMiddleware
from app.core.private import private_dir
from app.core.proxy import ForwardedHeadersMiddleware, parse_trusted
from app.core.security import SecurityHeadersMiddleware
from app.core.startup import check_secret_key
from app.core.storage import make_storage
from app.core.templating import TEMPLATES_DIR
from app.core.timing import ServerTimingMiddleware
from app.datasets import api as datasets_api
from app.datasets import views as datasets_views
from app.images import api as images_api
from app.images import browse_views as images_browse_views
from app.images import media as images_media
from app.images import views as images_views
from app.jobs import views as job_views
from app.jobs.inapp import in_app_jobs
from app.labeling import api as labeling_api
from app.labeling import views as labeling_views
from app.modeling import api as modeling_api
from app.modeling import compare_api as modeling_compare_api
from app.modeling import export_api as modeling_export_api
from app.modeling import views as modeling_views
from app.projects import defect_book_api, defect_book_views
from app.projects import views as project_views
from app.review import api as review_api
from app.review import views as review_views

STATIC_DIR = TEMPLATES_DIR.parent / "static"

# Every router of the product, in one list; `guard` applies to all of their routes.
ROUTERS = [
    health.router,
    docs.router,
    auth_views.router,
    account_views.router,
    admin_views.router,
    member_views.router,
    auth_api.router,
    project_views.router,
    job_views.router,
    images_media.router,
    images_api.router,
    images_views.router,
    images_browse_views.router,
    labeling_api.router,
    labeling_views.router,
    review_views.router,
    review_api.router,
    defect_book_views.router,
    defect_book_api.router,
    datasets_views.router,
    datasets_api.router,
    datasets_api.answers_router,
    analysis_views.router,
    analysis_api.router,
    consistency_views.router,
    consistency_api.router,
    consistency_voice_api.router,
    modeling_api.router,
    modeling_views.router,
    modeling_compare_api.router,
    modeling_export_api.router,
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
        lifespan=in_app_jobs,  # on SQLite, background jobs run in a thread of the app (app/jobs/inapp.py)
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url, deadline_seconds=settings.db_deadline_seconds)
    app.state.sessionmaker = make_sessionmaker(app.state.engine)
    private_dir(settings.data_dir)
    app.state.secret_key = settings.resolved_secret_key()
    check_secret_key(app.state.secret_key)  # refuses to start on a weak key (ConfigError names the setting)
    parse_trusted(settings.trusted_proxies)  # a bad list stops start-up, naming the setting
    app.state.storage = make_storage(settings)

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes,
                       max_plain_bytes=settings.max_json_bytes)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(ServerTimingMiddleware)  # the whole of the app's time
    app.add_middleware(ForwardedHeadersMiddleware)  # outermost: every layer sees the believed client
    handlers.install(app)
    openapi.install(app)  # error responses and the bearer scheme, as the API really answers
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    return app

"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from service.api import health, tenancy
from service.api.deps import authenticate_scope
from service.api.errors import install_error_handlers
from service.api.guard import RequestGuard
from service.api.openapi import install_openapi, operation_id
from service.api.query import reject_unknown_query_parameters
from service.billing import routes as billing_routes
from service.credentials import routes as credential_routes
from service.dashboard import install_dashboard
from service.db.database import Database, database_for
from service.evals import routes as eval_routes
from service.evals.runs import routes as eval_run_routes
from service.files import routes as file_routes
from service.jobs.api import push_routes
from service.jobs.api import routes as job_routes
from service.models import routes as model_routes
from service.observability.http import install_observability
from service.settings import Settings, get_settings
from service.studies import routes as study_routes
from service.webhooks import routes as webhook_routes


def create_app(settings: Settings | None = None, database: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="tuneforge",
        version="0.1.0",
        description=(
            "Run LLM fine-tuning jobs on managed providers or your own GPUs behind one "
            "OpenAI-compatible API."
        ),
        generate_unique_id_function=operation_id,
        dependencies=[Depends(reject_unknown_query_parameters)],
    )
    app.state.settings = settings
    app.state.database = database or database_for(settings)
    install_error_handlers(app)
    app.include_router(health.router)
    install_observability(app)
    app.include_router(tenancy.router)
    app.include_router(file_routes.router)
    app.include_router(webhook_routes.router)
    app.include_router(job_routes.router)
    app.include_router(push_routes.router)
    app.include_router(billing_routes.router)
    app.include_router(model_routes.router)
    app.include_router(eval_routes.router)
    app.include_router(eval_run_routes.router)
    app.include_router(credential_routes.router)
    app.include_router(study_routes.router)
    install_dashboard(app)
    install_openapi(app)
    # Added last, so it runs first (outside the request timer, which would otherwise count
    # refused requests as unmatched routes: they are, by design, never routed).
    app.add_middleware(RequestGuard, authenticate=authenticate_scope)
    return app

"""Wire the dashboard into the app: its routers, its static files, and how its two failures
(not logged in, a page-level error) are answered."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from service.dashboard import actions, live, pages
from service.dashboard.auth import DashboardError, LoginRequired, secret_of
from service.dashboard.rendering import HERE, render
from service.settings import Settings


def install_dashboard(app: FastAPI) -> None:
    # The signing secret exists from the first start on (made now when none is configured).
    secret_of(app.state.settings)
    app.include_router(actions.router)
    app.include_router(live.router)
    app.include_router(pages.router)
    app.mount("/admin/static", StaticFiles(directory=HERE / "static"), name="admin-static")

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        if exc.wants_json or request.method != "GET":
            return JSONResponse(
                {"error": {"message": "Admin login required.", "code": "login_required"}},
                status_code=401,
            )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/admin/login?next={quote(target)}", status_code=303)

    @app.exception_handler(DashboardError)
    async def _dashboard_error(request: Request, exc: DashboardError) -> Response:
        settings: Settings = request.app.state.settings
        return render(
            request,
            settings,
            None,
            "error.html",
            status_code=exc.status_code,
            title=exc.title,
            message=exc.message,
        )

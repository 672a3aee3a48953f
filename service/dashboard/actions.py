"""Login, logout and the operator's actions (cancel, retry a launch, redeliver a webhook). Every
POST is CSRF-checked; each action calls one service function and redirects back with a flash."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.api.deps import SessionDep, SettingsDep
from service.auth.roles import KeyRole
from service.dashboard.auth import (
    CheckedAdminDep,
    DashboardError,
    LoginRequired,
    clear_cookie,
    current_admin,
    secret_of,
    set_cookie,
)
from service.dashboard.rendering import render
from service.dashboard.session import (
    FLASH_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    issue_flash,
    issue_login_csrf,
    issue_session,
    login_csrf_valid,
)
from service.dashboard.webhook_queries import WebhookQueries
from service.errors import TuneforgeError
from service.jobs.api.service import retry_launch
from service.settings import Settings
from service.studies.attached import cancel_job
from service.tenants.service import authenticate, end_dashboard_sessions
from service.webhooks.deliveries import redeliver

router = APIRouter(prefix="/admin", include_in_schema=False)

LOGIN_FORM_MAX_AGE_S = 3600


def safe_next(target: str | None) -> str:
    """Only a path inside the dashboard: never an open redirect to another site."""
    if target and target.startswith("/admin") and "//" not in target and "\\" not in target:
        return target
    return "/admin"


def _login_page(
    request: Request, settings: Settings, *, next_url: str, error: str | None, status_code: int
) -> HTMLResponse:
    cookie, token = issue_login_csrf(secret_of(settings))
    response = render(
        request,
        settings,
        None,
        "login.html",
        login_csrf=token,
        next_url=safe_next(next_url),
        error=error,
        status_code=status_code,
    )
    set_cookie(request, response, LOGIN_CSRF_COOKIE, cookie, LOGIN_FORM_MAX_AGE_S)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request, session: SessionDep, settings: SettingsDep, next: str = "/admin"
) -> Response:
    try:
        current_admin(request, session, settings)
    except LoginRequired:
        return _login_page(request, settings, next_url=next, error=None, status_code=200)
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    api_key: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/admin",
) -> Response:
    secret = secret_of(settings)
    if not login_csrf_valid(secret, request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
        return _login_page(
            request,
            settings,
            next_url=next,
            error="The login form expired. Please try again.",
            status_code=403,
        )
    key = authenticate(session, api_key.strip()) if api_key.strip() else None
    if key is None:
        return _login_page(
            request, settings, next_url=next, error="Incorrect API key.", status_code=401
        )
    if not KeyRole(key.role).is_operator:
        return _login_page(
            request,
            settings,
            next_url=next,
            error="This API key is not an operator key; the dashboard needs an operator key.",
            status_code=403,
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    token = issue_session(secret, key.id, key.tenant_id, generation=key.session_generation)
    set_cookie(request, response, SESSION_COOKIE, token, settings.session_max_age_s)
    clear_cookie(request, response, LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, admin: CheckedAdminDep, session: SessionDep) -> Response:
    # Server-side: every session this key holds ends (a copy of the cookie is refused after).
    end_dashboard_sessions(session, admin.key.id)
    response = RedirectResponse("/admin/login", status_code=303)
    clear_cookie(request, response, SESSION_COOKIE)
    return response


def _back(
    request: Request, settings: Settings, target: str, message: str, level: str
) -> RedirectResponse:
    response = RedirectResponse(target, status_code=303)
    set_cookie(
        request, response, FLASH_COOKIE, issue_flash(secret_of(settings), message, level), 60
    )
    return response


@router.post("/jobs/{job_id}/cancel")
def cancel(
    job_id: str,
    request: Request,
    admin: CheckedAdminDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    target = f"/admin/jobs/{job_id}"
    try:
        job = cancel_job(session, settings, None, job_id)
    except TuneforgeError as error:
        session.rollback()
        return _back(request, settings, target, error.message, "error")
    if job.status == "cancelled":
        return _back(request, settings, target, f"Job {job.id} is cancelled.", "ok")
    if job.status == "succeeded":  # only its evaluation was still going
        message = f"The evaluation of {job.id} is cancelled; the job stays succeeded."
        return _back(request, settings, target, message, "ok")
    return _back(
        request,
        settings,
        target,
        f"Cancellation of {job.id} was sent to {job.provider}; the status follows when the "
        "provider confirms.",
        "ok",
    )


@router.post("/jobs/{job_id}/retry-launch")
def retry(
    job_id: str,
    request: Request,
    admin: CheckedAdminDep,
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    target = f"/admin/jobs/{job_id}"
    try:
        job = retry_launch(session, job_id)
    except TuneforgeError as error:
        session.rollback()
        return _back(request, settings, target, error.message, "error")
    return _back(request, settings, target, f"Launch of {job.id} queued to run now.", "ok")


@router.post("/webhook-deliveries/{delivery_id}/redeliver")
def redeliver_delivery(
    delivery_id: str,
    request: Request,
    admin: CheckedAdminDep,
    session: SessionDep,
    settings: SettingsDep,
    next: Annotated[str, Form()] = "/admin/webhooks",
) -> Response:
    target = safe_next(next)
    delivery = WebhookQueries(session).delivery(delivery_id)
    if delivery is None:
        raise DashboardError(404, "Delivery not found", f"No webhook delivery {delivery_id!r}.")
    try:
        redeliver(session, delivery.tenant_id, delivery.id)
    except TuneforgeError as error:
        session.rollback()
        return _back(request, settings, target, error.message, "error")
    return _back(request, settings, target, f"Delivery {delivery.id} queued for redelivery.", "ok")

"""A tenant may have at most ``max_active_jobs_per_tenant`` unfinished jobs; the next create is
429 ``active_job_limit_reached`` until one finishes; other tenants are not counted."""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from providers.base import JobStatus
from service.db.database import Database
from service.db.models import Job
from service.errors import RateLimited
from service.jobs.api.schemas import CreateJobRequest
from service.jobs.api.service import create_job
from service.settings import Settings
from service.tenants.quotas import check_active_eval_runs
from tests.factories import auth, make_key, make_tenant
from tests.service.jobs.helpers import make_file

URL = "/v1/fine_tuning/jobs"
MODEL = "gpt-4o-mini-2024-07-18"


def test_unfinished_jobs_are_capped_per_tenant(
    app: FastAPI, db_session: Session, settings: Settings
) -> None:
    app.state.settings = settings.model_copy(update={"max_active_jobs_per_tenant": 2})
    tenant, other = make_tenant(db_session), make_tenant(db_session)
    headers, other_headers = auth(make_key(db_session, tenant)), auth(make_key(db_session, other))
    file, other_file = (
        make_file(db_session, settings, tenant),
        make_file(db_session, settings, other),
    )
    db_session.commit()
    body = {"model": "gpt-4o-mini-2024-07-18", "training_file": file.id}
    with TestClient(app) as client:
        created = [client.post(URL, json=body, headers=headers) for _ in range(2)]
        assert [r.status_code for r in created] == [200, 200], created[-1].text
        refused = client.post(URL, json=body, headers=headers)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "active_job_limit_reached"

        other_body = {"model": "gpt-4o-mini-2024-07-18", "training_file": other_file.id}
        assert client.post(URL, json=other_body, headers=other_headers).status_code == 200

        finished = db_session.get(Job, created[0].json()["id"])
        assert finished is not None
        finished.status = JobStatus.CANCELLED
        db_session.commit()
        assert client.post(URL, json=body, headers=headers).status_code == 200


def test_eval_runs_have_their_own_quota(settings: Settings) -> None:
    limited = settings.model_copy(update={"max_active_eval_runs_per_tenant": 3})
    check_active_eval_runs(limited, 2)
    try:
        check_active_eval_runs(limited, 3)
    except RateLimited as exc:
        assert exc.code == "active_eval_run_limit_reached" and exc.status_code == 429
    else:
        raise AssertionError("a fourth eval run was allowed")


WAIT_S = 30  # a bound for a hung test, never a timing the test relies on


def test_two_creates_racing_for_the_last_slot_take_it_once(
    committed_db: Database, settings: Settings
) -> None:
    """The race is forced: the first create holds the tenant lock (its job flushed, not
    committed) until the second has sent the statement that must wait for it — on PostgreSQL
    the tenant lock, seen waiting in ``pg_stat_activity``; on SQLite ``BEGIN IMMEDIATE``. Then
    the first commits, and the second, counting after its lock, is refused."""
    limited = settings.model_copy(update={"max_active_jobs_per_tenant": 1})
    with committed_db.sessions() as setup:
        tenant = make_tenant(setup)
        file = make_file(setup, settings, tenant)
        setup.commit()
        tenant_id, request = tenant.id, CreateJobRequest(model=MODEL, training_file=file.id)
    postgres = committed_db.engine.dialect.name == "postgresql"
    first_locked = threading.Event()
    second_locking = threading.Event()
    outcomes: dict[str, str] = {}
    errors: list[BaseException] = []

    def spot_second_lock(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        text = " ".join(statement.split()).upper()
        locking = "FROM TENANTS" in text if postgres else text.startswith("BEGIN")
        if threading.current_thread().name == "second" and locking:
            second_locking.set()

    def create(name: str) -> None:
        try:
            with committed_db.sessions() as session:
                if name == "second":
                    assert first_locked.wait(WAIT_S)
                try:
                    create_job(session, limited, tenant_id, request)
                except RateLimited as refused:
                    outcomes[name] = refused.code or ""
                    return
                if name == "first":
                    first_locked.set()  # its job is flushed and the tenant row locked
                    assert second_locking.wait(WAIT_S)
                    if postgres:
                        _wait_for_a_lock_waiter(committed_db)
                session.commit()
                outcomes[name] = "created"
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            first_locked.set()
            second_locking.set()

    event.listen(committed_db.engine, "before_cursor_execute", spot_second_lock)
    try:
        threads = [threading.Thread(target=create, args=(n,), name=n) for n in ("first", "second")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=WAIT_S * 2)
    finally:
        event.remove(committed_db.engine, "before_cursor_execute", spot_second_lock)
    assert not errors, errors
    assert outcomes == {"first": "created", "second": "active_job_limit_reached"}


def _wait_for_a_lock_waiter(database: Database) -> None:
    """Until another session of this database waits on a row lock (bounded by WAIT_S)."""
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + WAIT_S
    with database.engine.connect() as connection:
        while not connection.execute(waiting).scalar():
            assert time.monotonic() < deadline, "the second create never waited for the lock"
            connection.rollback()  # a fresh snapshot of pg_stat_activity next time

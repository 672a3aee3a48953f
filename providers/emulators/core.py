"""What every emulator shares: the clock, jobs that progress through phases, fault injection,
and the ``/_emulator/*`` control routes.

Control routes (used by tests and by other processes, e.g. Celery workers under chaos tests):

- ``POST /_emulator/faults`` with one rule or a list of rules (``FaultRule``); ``GET`` lists
  the rules still armed; ``DELETE`` disarms them all.
- ``GET /_emulator/jobs``: every job ever created, ``{"count": n, "data": [...]}``.
- ``POST /_emulator/jobs/{id}/advance``: jump a job to its terminal phase.
- ``GET /_emulator/requests``: how many provider API requests were served, ``{"count": n}``.
- ``POST /_emulator/reset``: forget jobs, files, faults and the request count.

Fault kinds (a rule matches on ``method`` and a ``path`` regex (``re.search``), and fires ``count``
times; ``count: -1`` means forever):

- ``status``: answer ``status`` with the provider's error body (and ``Retry-After`` when
  ``retry_after`` is set) without running the handler.
- ``slow``: wait ``seconds``, then answer normally.
- ``hang``: wait ``seconds``, then drop the connection without answering.
- ``drop``: drop the connection without running the handler.
- ``drop_after``: run the handler (so a job *is* created), then drop the connection.
- ``fail_job``: the next created job ends failed with ``message`` (no request matching).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorBody = Callable[[int, str], dict[str, Any]]

DEFAULT_FAILURE = "Training file has invalid format: example 3 is missing an assistant message."


class FaultRule(BaseModel):
    kind: Literal["status", "slow", "hang", "drop", "drop_after", "fail_job"]
    method: str | None = None
    path: str | None = None
    status: int = 500
    retry_after: float | None = None
    seconds: float = 30.0
    count: int = 1
    message: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.kind == "fail_job":
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        return not self.path or re.search(self.path, path) is not None


class ConnectionDropped(Exception):
    """Raised after a response has started, so the server closes the socket mid-answer."""


@dataclass
class EmulatedJob:
    """A job whose phase is a pure function of the clock (plus cancel and failure)."""

    id: str
    body: dict[str, Any]
    created_mono: float
    created_at: float
    token_count: int
    fail_message: str | None = None
    cancelled_at_phase: int | None = None
    advanced: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Progress:
    """Where a job stands: ``phase`` indexes the provider's success path."""

    phase: int
    outcome: Literal["active", "succeeded", "failed", "cancelled", "cancelling"]
    step: int
    total_steps: int


class EmulatorState:
    def __init__(self, phases: int, phase_seconds: float, total_steps: int = 12) -> None:
        self.phases = phases  # index of the terminal phase on the success path
        self.phase_seconds = phase_seconds
        self.total_steps = total_steps
        self.lock = threading.Lock()
        self.jobs: dict[str, EmulatedJob] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.faults: list[FaultRule] = []
        self.requests = 0  # provider API requests served (control routes not counted)
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)

    def reset(self) -> None:
        with self.lock:
            self.jobs.clear()
            self.files.clear()
            self.faults.clear()
            self.requests = 0

    def take_fault(self, method: str, path: str) -> FaultRule | None:
        with self.lock:
            for rule in self.faults:
                if rule.matches(method, path):
                    self._consume(rule)
                    return rule
        return None

    def take_job_failure(self) -> str | None:
        with self.lock:
            for rule in self.faults:
                if rule.kind == "fail_job":
                    self._consume(rule)
                    return rule.message or DEFAULT_FAILURE
        return None

    def _consume(self, rule: FaultRule) -> None:
        if rule.count > 0:
            rule.count -= 1
            if rule.count == 0:
                self.faults.remove(rule)

    def add_job(self, job_id: str, body: dict[str, Any], token_count: int) -> EmulatedJob:
        job = EmulatedJob(
            id=job_id,
            body=body,
            created_mono=time.monotonic(),
            created_at=time.time(),
            token_count=token_count,
            fail_message=self.take_job_failure(),
        )
        with self.lock:
            self.jobs[job_id] = job
        return job

    def raw_phase(self, job: EmulatedJob) -> int:
        if job.advanced:
            return self.phases
        elapsed = time.monotonic() - job.created_mono
        return min(int(elapsed / self.phase_seconds), self.phases)

    def progress(self, job: EmulatedJob) -> Progress:
        phase = self.raw_phase(job)
        if job.cancelled_at_phase is not None:
            settled = phase > job.cancelled_at_phase or job.advanced
            step = self._step(job.cancelled_at_phase)
            outcome: Literal["cancelled", "cancelling"] = "cancelled" if settled else "cancelling"
            return Progress(job.cancelled_at_phase, outcome, step, self.total_steps)
        if phase >= self.phases:
            final: Literal["failed", "succeeded"] = "failed" if job.fail_message else "succeeded"
            steps = self._step(self.phases - 1) if job.fail_message else self.total_steps
            return Progress(self.phases, final, steps, self.total_steps)
        return Progress(phase, "active", self._step(phase), self.total_steps)

    def _step(self, phase: int) -> int:
        """Steps done by ``phase``: training spans the phases from 2 to the last one."""
        running_phases = max(self.phases - 2, 1)
        return max(0, min(self.total_steps, (phase - 1) * self.total_steps // running_phases))

    def cancel(self, job: EmulatedJob) -> bool:
        """Request cancellation; False when the job had already finished."""
        progress = self.progress(job)
        if progress.outcome in ("succeeded", "failed", "cancelled"):
            return False
        if job.cancelled_at_phase is None:
            job.cancelled_at_phase = progress.phase
        return True


def train_loss(step: int) -> float:
    return round(2.2 * (0.85**step) + 0.15, 4)


def valid_loss(step: int) -> float:
    return round(train_loss(step) + 0.07, 4)


def token_accuracy(step: int) -> float:
    return round(min(0.97, 0.45 + 0.04 * step), 4)


def count_tokens(content: bytes) -> int:
    """A rough, deterministic token count (4 bytes per token) for emulated billing."""
    return max(len(content) // 4, 1)


class FaultMiddleware:
    """Applies armed fault rules to every request outside ``/_emulator``."""

    def __init__(self, app: ASGIApp, state: EmulatorState, error_body: ErrorBody) -> None:
        self.app = app
        self.state = state
        self.error_body = error_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        self.state.requests += 1
        rule = self.state.take_fault(scope["method"], path)
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.kind == "status":
            message = rule.message or f"Emulated error {rule.status}"
            headers = (
                {"Retry-After": f"{rule.retry_after:g}"} if rule.retry_after is not None else {}
            )
            response = JSONResponse(self.error_body(rule.status, message), rule.status, headers)
            await response(scope, receive, send)
        elif rule.kind == "slow":
            await asyncio.sleep(rule.seconds)
            await self.app(scope, receive, send)
        elif rule.kind == "hang":
            await asyncio.sleep(rule.seconds)
            await _drop(send)
        elif rule.kind == "drop":
            await _drop(send)
        else:  # drop_after

            async def swallow(message: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
            await _drop(send)


async def _drop(send: Send) -> None:
    # Promise a body, then abort: uvicorn closes the socket and the client sees a broken
    # connection (not an HTTP error), exactly as when a response is lost on the way back.
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", b"1000"), (b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"', "more_body": True})
    raise ConnectionDropped("emulated connection drop")


def add_control_routes(
    app: FastAPI, state: EmulatorState, describe: Callable[[EmulatedJob], Any]
) -> None:
    @app.post("/_emulator/faults")
    async def add_faults(request: Request) -> dict[str, Any]:
        payload = await request.json()
        rules = [
            FaultRule.model_validate(r)
            for r in (payload if isinstance(payload, list) else [payload])
        ]
        with state.lock:
            state.faults.extend(rules)
        return {"data": [r.model_dump() for r in state.faults]}

    @app.get("/_emulator/faults")
    async def list_faults() -> dict[str, Any]:
        return {"data": [r.model_dump() for r in state.faults]}

    @app.delete("/_emulator/faults")
    async def clear_faults() -> dict[str, Any]:
        with state.lock:
            state.faults.clear()
        return {"data": []}

    @app.get("/_emulator/jobs")
    async def list_jobs() -> dict[str, Any]:
        jobs = list(state.jobs.values())
        return {
            "count": len(jobs),
            "data": [
                {"id": j.id, "created_at": j.created_at, "body": j.body, "job": describe(j)}
                for j in jobs
            ],
        }

    @app.post("/_emulator/jobs/{job_id}/advance")
    async def advance(job_id: str) -> dict[str, Any]:
        job = state.jobs.get(job_id)
        if job is None:
            return JSONResponse({"error": "no such job"}, 404)  # type: ignore[return-value]
        job.advanced = True
        return {"job": describe(job)}

    @app.get("/_emulator/requests")
    async def count_requests() -> dict[str, Any]:
        return {"count": state.requests}

    @app.post("/_emulator/reset")
    async def reset() -> dict[str, Any]:
        state.reset()
        return {"reset": True}


def with_faults(app: FastAPI, state: EmulatorState, error_body: ErrorBody) -> ASGIApp:
    app.state.emulator = state
    return FaultMiddleware(app, state, error_body)

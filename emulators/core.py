"""What every emulator shares: the clock, jobs that progress through phases, and the
``/_emulator/*`` control routes (fault injection itself is in ``emulators.faults``).

Control routes (used by tests and by other processes, e.g. Celery workers under chaos tests):

- ``POST /_emulator/faults`` with one rule or a list of rules (``FaultRule``); ``GET`` lists
  the rules still armed; ``DELETE`` disarms them all.
- ``GET /_emulator/jobs``: every job ever created, ``{"count": n, "data": [...]}``.
- ``POST /_emulator/jobs/{id}/advance``: jump a job to its terminal phase.
- ``POST /_emulator/jobs/{id}/finish_in`` with ``{"seconds": s}``: the job is running from now
  (phases before running count as done at once) and reaches its terminal phase ``s`` seconds
  later, its remaining steps spread evenly in between; the provider's finish estimate
  (OpenAI ``estimated_finish``, Together ``progress.seconds_remaining``) says so. 409 when the
  job has already finished or is being cancelled; calling it again re-plans from now.
- ``GET /_emulator/requests``: how many provider API requests were served, how many per
  endpoint (``"by_endpoint": {"GET /v1/fine_tuning/jobs/{job_id}": n, ...}``, the route as
  declared, so per endpoint rather than per job), and the last ``REQUEST_LOG_SIZE`` of them
  with the ``Authorization`` header each carried:
  ``{"count": n, "by_endpoint": {...}, "data": [{"method", "path", "authorization"}, ...]}``.
  Every job in ``GET /_emulator/jobs`` also carries the ``authorization`` it was created
  with, so a test can tell whose key reached the provider.
- ``GET /_emulator/clock``: ``{"manual", "time", "monotonic"}``; ``POST /_emulator/clock/advance``
  with ``{"seconds": s}`` moves a manual clock (``emulators.clock.ManualClock``, given to
  ``create_app(clock=...)``) and answers once what it made due was handled; 409 on the system
  clock.
- ``POST /_emulator/list_page_max`` with ``{"max": n}`` (or null): list pages hold at most
  ``n`` jobs whatever ``limit`` asks, as a provider with an undocumented cap would serve them;
  with ``"refuse": true`` a larger ``limit`` is answered 400 instead (OpenAI emulator's job
  list).
- ``POST /_emulator/reset``: forget jobs, files, faults and the request count (and, on the
  OpenAI emulator, its webhook subscriptions).
- OpenAI emulator only (``emulators.push``): ``POST /_emulator/webhooks`` with
  ``{"url", "secret": "whsec_..."}`` subscribes to signed ``fine_tuning.job.*`` events, one
  per job that becomes terminal; ``GET`` lists subscriptions with delivery counts; ``DELETE``
  removes them all.

Fault kinds are described in ``emulators.faults``.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from emulators.clock import Clock, ManualClock, SystemClock
from emulators.faults import FaultRule, current_authorization

DEFAULT_FAILURE = "Training file has invalid format: example 3 is missing an assistant message."
REQUEST_LOG_SIZE = 1000
RUNNING_PHASE = 2  # every provider's success path starts training at phase 2
TERMINAL = ("succeeded", "failed", "cancelled")


class FinishIn(BaseModel):
    seconds: float = Field(ge=0, allow_inf_nan=False)


class ListPageMax(BaseModel):
    max: int | None = Field(default=None, ge=1)
    refuse: bool = False


class ClockAdvance(BaseModel):
    seconds: float = Field(ge=0, le=10 * 365 * 86400, allow_inf_nan=False)


@dataclass(frozen=True)
class FinishPlan:
    """Set by ``finish_in``: the job stays in ``phase`` (running or later) from ``start`` and
    reaches its terminal phase at ``end``; the steps not yet done are spread evenly between.
    ``entered`` (wall times the job entered phases ``0..phase``) and ``step_times`` (wall times
    of the steps done by ``start``) keep the history already shown unchanged."""

    phase: int
    start_mono: float
    start_at: float
    end_mono: float
    end_at: float
    entered: tuple[float, ...]
    step_times: tuple[float, ...]


@dataclass
class EmulatedJob:
    """A job whose phase is a pure function of the clock (plus cancel, failure and
    ``finish_in``, which replaces the clock's schedule with a ``FinishPlan``)."""

    id: str
    body: dict[str, Any]
    created_mono: float
    created_at: float
    token_count: int
    fail_message: str | None = None
    cancelled_at_phase: int | None = None
    cancelled_at_step: int = 0
    cancelled_mono: float = 0.0
    cancelled_at: float = 0.0
    advanced: bool = False
    plan: FinishPlan | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    authorization: str | None = None  # the header the create request carried
    paused_since: float | None = None  # monotonic time of a pause not yet resumed
    paused_total: float = 0.0  # seconds spent paused before, which its timeline skips


@dataclass
class Progress:
    """Where a job stands: ``phase`` indexes the provider's success path."""

    phase: int
    outcome: Literal["active", "succeeded", "failed", "cancelled", "cancelling"]
    step: int
    total_steps: int


class EmulatorState:
    def __init__(
        self,
        phases: int,
        phase_seconds: float,
        total_steps: int = 12,
        clock: Clock | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.phases = phases  # index of the terminal phase on the success path
        self.phase_seconds = phase_seconds
        self.total_steps = total_steps
        self.lock = threading.Lock()
        self.jobs: dict[str, EmulatedJob] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.faults: list[FaultRule] = []
        self.requests = 0  # provider API requests served (control routes not counted)
        self.request_log: deque[dict[str, str | None]] = deque(maxlen=REQUEST_LOG_SIZE)
        self.requests_by_endpoint: Counter[str] = Counter()
        """Requests served per ``"METHOD /route/{param}"``."""
        self.listeners: list[Callable[[EmulatedJob], None]] = []
        """Told of every job created, and of every change made by a call rather than the clock
        (cancel, advance, finish_in); they run on the caller's thread, so must be quick."""
        self.reset_hooks: list[Callable[[], None]] = []
        self.list_page_max: int | None = None
        """The most jobs a list page holds whatever ``limit`` asks (None: as asked), as a
        provider with an undocumented cap would serve them; with ``list_page_refuse`` a larger
        ``limit`` is refused with a 400 instead."""
        self.list_page_refuse = False
        self._ids = itertools.count(1)

    def next_id(self) -> int:
        return next(self._ids)

    def reset(self) -> None:
        with self.lock:
            self.jobs.clear()
            self.files.clear()
            self.faults.clear()
            self.requests = 0
            self.request_log.clear()
            self.requests_by_endpoint.clear()
            self.list_page_max = None
            self.list_page_refuse = False
        for hook in self.reset_hooks:
            hook()

    def _changed(self, job: EmulatedJob) -> None:
        for listener in self.listeners:
            listener(job)

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
            created_mono=self.clock.monotonic(),
            created_at=self.clock.time(),
            token_count=token_count,
            fail_message=self.take_job_failure(),
            authorization=current_authorization.get(),
        )
        with self.lock:
            self.jobs[job_id] = job
        self._changed(job)
        return job

    def job_clock(self, job: EmulatedJob) -> float:
        """The clock as the job's timeline sees it: stopped while paused, pauses skipped."""
        now = self.clock.monotonic() if job.paused_since is None else job.paused_since
        return now - job.paused_total

    def raw_phase(self, job: EmulatedJob) -> int:
        if job.advanced:
            return self.phases
        if job.plan is not None:
            return self.phases if self.job_clock(job) >= job.plan.end_mono else job.plan.phase
        elapsed = self.job_clock(job) - job.created_mono
        return min(int(elapsed / self.phase_seconds), self.phases)

    def progress(self, job: EmulatedJob) -> Progress:
        phase = self.raw_phase(job)
        if job.cancelled_at_phase is not None:
            if job.plan is None:
                settled = phase > job.cancelled_at_phase or job.advanced
                step = self._step(job.cancelled_at_phase)
            else:
                settled = job.advanced or self.job_clock(job) >= self._settles(job)
                step = job.cancelled_at_step
            outcome: Literal["cancelled", "cancelling"] = "cancelled" if settled else "cancelling"
            return Progress(job.cancelled_at_phase, outcome, step, self.total_steps)
        if phase >= self.phases:
            final: Literal["failed", "succeeded"] = "failed" if job.fail_message else "succeeded"
            steps = self._step(self.phases - 1) if job.fail_message else self.total_steps
            return Progress(self.phases, final, steps, self.total_steps)
        step = self._step(phase) if job.plan is None else self._planned_step(job, job.plan)
        return Progress(phase, "active", step, self.total_steps)

    def _planned_step(self, job: EmulatedJob, plan: FinishPlan) -> int:
        done = len(plan.step_times)
        left = self.total_steps - done
        span = plan.end_mono - plan.start_mono
        if left <= 0 or span <= 0:
            return done
        ran = int((self.job_clock(job) - plan.start_mono) / span * left)
        return done + max(0, min(ran, left - 1))  # the last step lands exactly at the end

    def _step(self, phase: int) -> int:
        """Steps done by ``phase``: training spans the phases from 2 to the last one."""
        running_phases = max(self.phases - 2, 1)
        return max(0, min(self.total_steps, (phase - 1) * self.total_steps // running_phases))

    def entered_at(self, job: EmulatedJob, phase: int) -> float:
        """Wall time the job entered ``phase`` of its success path (the terminal one included)."""
        plan = job.plan
        if plan is None:
            return job.created_at + phase * self.phase_seconds
        return plan.entered[phase] if phase < len(plan.entered) else plan.end_at

    def step_time(self, job: EmulatedJob, step: int) -> float:
        """Wall time training step ``step`` (1-based) was, or will be, done."""
        plan = job.plan
        if plan is None:
            return self.entered_at(job, RUNNING_PHASE) + step * self.phase_seconds / max(
                self.total_steps, 1
            )
        done = len(plan.step_times)
        if step <= done:
            return plan.step_times[step - 1]
        return plan.start_at + (step - done) * (plan.end_at - plan.start_at) / (
            self.total_steps - done
        )

    def cancelled_time(self, job: EmulatedJob) -> float:
        """Wall time cancellation was requested (by the clock's phases when not planned)."""
        if job.plan is not None or job.cancelled_at_phase is None:
            return job.cancelled_at
        return self.entered_at(job, job.cancelled_at_phase)

    def finish_estimate(self, job: EmulatedJob) -> float:
        """Wall time the job is expected to reach its terminal phase."""
        return self.entered_at(job, self.phases)

    def planned_seconds_left(self, job: EmulatedJob) -> float | None:
        """Seconds until an active job planned by ``finish_in`` finishes; None for others."""
        if job.plan is None or self.progress(job).outcome != "active":
            return None
        return max(0.0, job.plan.end_mono - self.job_clock(job))

    def settles_at(self, job: EmulatedJob) -> float:
        """Earliest monotonic time the clock alone may make the job terminal (never while
        paused: a resume is a change its listeners hear of)."""
        if job.paused_since is not None and not job.advanced:
            return math.inf
        return self._settles(job) + job.paused_total

    def _settles(self, job: EmulatedJob) -> float:
        """``settles_at`` on the job's own clock (``job_clock``)."""
        if job.advanced:
            return job.created_mono  # settled already
        plan = job.plan
        if job.cancelled_at_phase is not None:
            if plan is not None:
                return job.cancelled_mono + self.phase_seconds
            return job.created_mono + (job.cancelled_at_phase + 1) * self.phase_seconds
        if plan is not None:
            return plan.end_mono
        return job.created_mono + self.phases * self.phase_seconds

    def cancel(self, job: EmulatedJob) -> bool:
        """Request cancellation; False when the job had already finished."""
        progress = self.progress(job)
        if progress.outcome in TERMINAL:
            return False
        if job.cancelled_at_phase is None:
            job.cancelled_at_phase = progress.phase
            job.cancelled_at_step = progress.step
            self._unpause(job)
            job.cancelled_mono = self.job_clock(job)
            job.cancelled_at = self.clock.time()
        self._changed(job)
        return True

    def pause(self, job: EmulatedJob) -> bool:
        """Stop the job's timeline where it is; False unless it is running (or paused)."""
        progress = self.progress(job)
        if progress.outcome != "active" or progress.phase < RUNNING_PHASE:
            return False
        if job.paused_since is None:
            job.paused_since = self.clock.monotonic()
            self._changed(job)
        return True

    def resume(self, job: EmulatedJob) -> bool:
        """Run a paused job's timeline on from where it stopped; False when not paused."""
        if job.paused_since is None or self.progress(job).outcome != "active":
            return False
        self._unpause(job)
        self._changed(job)
        return True

    def _unpause(self, job: EmulatedJob) -> None:
        if job.paused_since is not None:
            job.paused_total += self.clock.monotonic() - job.paused_since
            job.paused_since = None

    def advance(self, job: EmulatedJob) -> None:
        """Jump to the terminal phase (a planned job finishes now, its history kept)."""
        if job.plan is not None and self.progress(job).outcome == "active":
            self.finish_in(job, 0.0)
            return
        job.advanced = True
        self._changed(job)

    def finish_in(self, job: EmulatedJob, seconds: float) -> bool:
        """Run the job from now until it reaches its terminal phase ``seconds`` later; False
        when it has already finished or is being cancelled."""
        progress = self.progress(job)
        if progress.outcome != "active":
            return False
        self._unpause(job)
        now_mono, now_at = self.job_clock(job), self.clock.time()
        phase = max(progress.phase, RUNNING_PHASE)
        entered = tuple(
            min(self.entered_at(job, p), now_at) if p <= progress.phase else now_at
            for p in range(phase + 1)
        )
        steps = tuple(min(self.step_time(job, s), now_at) for s in range(1, progress.step + 1))
        job.plan = FinishPlan(
            phase, now_mono, now_at, now_mono + seconds, now_at + seconds, entered, steps
        )
        self._changed(job)
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
                {
                    "id": j.id,
                    "created_at": j.created_at,
                    "body": j.body,
                    "authorization": j.authorization,
                    "job": describe(j),
                }
                for j in jobs
            ],
        }

    @app.post("/_emulator/jobs/{job_id}/advance")
    async def advance(job_id: str) -> dict[str, Any]:
        job = state.jobs.get(job_id)
        if job is None:
            return JSONResponse({"error": "no such job"}, 404)  # type: ignore[return-value]
        state.advance(job)
        return {"job": describe(job)}

    @app.post("/_emulator/jobs/{job_id}/finish_in")
    async def finish_in(job_id: str, body: FinishIn) -> dict[str, Any]:
        job = state.jobs.get(job_id)
        if job is None:
            return JSONResponse({"error": "no such job"}, 404)  # type: ignore[return-value]
        if not state.finish_in(job, body.seconds):
            return JSONResponse(  # type: ignore[return-value]
                {"error": "job has already finished or is being cancelled", "job": describe(job)},
                409,
            )
        return {"job": describe(job)}

    @app.get("/_emulator/clock")
    async def read_clock() -> dict[str, Any]:
        manual = isinstance(state.clock, ManualClock)
        return {"manual": manual, "time": state.clock.time(), "monotonic": state.clock.monotonic()}

    @app.post("/_emulator/clock/advance")
    async def advance_clock(body: ClockAdvance) -> dict[str, Any]:
        if not isinstance(state.clock, ManualClock):
            return JSONResponse(  # type: ignore[return-value]
                {"error": "this emulator runs on the system clock (start it with a manual one)"},
                409,
            )
        state.clock.advance(body.seconds)
        return {"manual": True, "time": state.clock.time(), "monotonic": state.clock.monotonic()}

    @app.post("/_emulator/list_page_max")
    async def cap_list_pages(body: ListPageMax) -> dict[str, Any]:
        state.list_page_max, state.list_page_refuse = body.max, body.refuse
        return {"max": body.max, "refuse": body.refuse}

    @app.get("/_emulator/requests")
    async def count_requests() -> dict[str, Any]:
        with state.lock:
            log = list(state.request_log)
            by_endpoint = dict(state.requests_by_endpoint)
        return {"count": state.requests, "by_endpoint": by_endpoint, "data": log}

    @app.post("/_emulator/reset")
    async def reset() -> dict[str, Any]:
        state.reset()
        return {"reset": True}

"""OpenAI's fine-tuning webhooks, pushed by the OpenAI emulator (PROVIDERS.md §8).

Control routes: ``POST /_emulator/webhooks`` with ``{"url", "secret": "whsec_..."}`` subscribes
(answers the subscription with its ``id``); ``GET /_emulator/webhooks`` lists subscriptions
with their delivery counts; ``DELETE /_emulator/webhooks`` (and ``POST /_emulator/reset``)
removes them all, abandoning deliveries still in flight.

Whenever a job becomes terminal (by its clock, ``finish_in``, ``advance``, cancel or failure),
one event ``{"id": "evt_…", "object": "event", "created_at", "type":
"fine_tuning.job.succeeded|failed|cancelled", "data": {"id": <job id>}}`` goes to every
subscription, signed the Standard Webhooks way (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``), so ``openai.OpenAI(webhook_secret=…).webhooks.unwrap`` accepts it.
A non-2xx answer or a connection error is retried after ``RETRY_DELAYS`` with the same
``webhook-id`` (and a fresh timestamp and signature), then given up.

Jobs that become terminal are found by a task of the app's lifespan that runs every
``SCAN_SECONDS``; it looks only at jobs that may have settled since (``TerminalWatch``), and
only while there are subscriptions.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from standardwebhooks import Webhook

from emulators.clock import ManualClock
from emulators.core import TERMINAL, EmulatedJob, EmulatorState

SCAN_SECONDS = 0.1
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)
TIMEOUT_SECONDS = 5.0
USER_AGENT = "OpenAI/1.0 (+https://platform.openai.com/docs/webhooks)"

log = logging.getLogger(__name__)


class SubscriptionIn(BaseModel):
    url: str
    secret: str


@dataclass
class Subscription:
    id: str
    url: str
    signer: Any = field(repr=False)  # standardwebhooks.Webhook
    created_at: int
    events: int = 0  # events queued for this subscription
    attempted: int = 0  # HTTP POSTs made, retries included
    succeeded: int = 0  # events answered 2xx
    failed: int = 0  # events given up on after the last retry

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "emulator.webhook_subscription",
            "url": self.url,
            "created_at": self.created_at,
            "events": self.events,
            "attempted": self.attempted,
            "succeeded": self.succeeded,
            "failed": self.failed,
        }


def signer_for(url: str, secret: str) -> Any:
    """The ``standardwebhooks.Webhook`` for a subscription; ValueError for a URL that is not
    http(s) or a secret that is not ``whsec_<base64>``."""
    if not url.startswith(("http://", "https://")):
        raise ValueError("webhook url must start with http:// or https://")
    if not secret.startswith("whsec_"):
        raise ValueError("webhook secret must look like whsec_<base64>")
    try:
        return Webhook(secret)
    except Exception as exc:  # binascii.Error, or an empty secret
        raise ValueError(f"webhook secret must look like whsec_<base64>: {exc}") from exc


class TerminalWatch:
    """Reports each watched job once, when it has become terminal.

    A heap holds, per job, the monotonic time it may settle by its clock
    (``EmulatorState.settles_at``); calls that change a job (cancel, advance, finish_in) push
    it for an immediate look. A scan pops only what is due, so thousands of jobs that are
    nowhere near finishing cost nothing. Jobs already terminal when watching starts are skipped.
    """

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.clock = state.clock
        self.active = False
        self._open: set[str] = set()  # watched jobs not reported yet
        self._due: list[tuple[float, str]] = []
        state.listeners.append(self._changed)

    def start(self) -> None:
        if self.active:
            return
        self.active = True
        now = self.clock.monotonic()
        for job in list(self.state.jobs.values()):
            if self.state.progress(job).outcome not in TERMINAL:
                self._open.add(job.id)
                self._due.append((max(self.state.settles_at(job), now), job.id))
        heapq.heapify(self._due)

    def stop(self) -> None:
        self.active = False
        self._open.clear()
        self._due.clear()

    def _changed(self, job: EmulatedJob) -> None:
        if not self.active:
            return
        if job.id in self._open:
            heapq.heappush(self._due, (self.clock.monotonic(), job.id))
        elif self.state.progress(job).outcome not in TERMINAL:  # created just now
            self._open.add(job.id)
            heapq.heappush(self._due, (self.state.settles_at(job), job.id))

    def settled(self) -> list[tuple[EmulatedJob, str]]:
        """Watched jobs that became terminal since the last call, with their outcome."""
        now = self.clock.monotonic()
        found: list[tuple[EmulatedJob, str]] = []
        while self._due and self._due[0][0] <= now:
            _, job_id = heapq.heappop(self._due)
            job = self.state.jobs.get(job_id)
            if job is None or job_id not in self._open:
                continue
            outcome = self.state.progress(job).outcome
            if outcome in TERMINAL:
                self._open.discard(job_id)
                found.append((job, outcome))
            else:  # not yet (a cancel still settling, a re-planned finish): look again later
                heapq.heappush(self._due, (max(self.state.settles_at(job), now + 0.01), job_id))
        return found


class WebhookPusher:
    def __init__(self, state: EmulatorState, event_types: Mapping[str, str]) -> None:
        self.event_types = event_types  # job outcome -> event type
        self.clock = state.clock
        self.watch = TerminalWatch(state)
        self.subscriptions: dict[str, Subscription] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: httpx.AsyncClient | None = None
        state.reset_hooks.append(self.clear)
        if isinstance(self.clock, ManualClock):
            self.clock.listeners.append(self._clock_moved)

    def subscribe(self, url: str, secret: str) -> Subscription:
        """Raises ValueError as ``signer_for`` does."""
        signer = signer_for(url, secret)
        sub = Subscription(f"whsub_{secrets.token_hex(8)}", url, signer, int(self.clock.time()))
        self.subscriptions[sub.id] = sub
        self.watch.start()
        return sub

    def clear(self) -> None:
        self.subscriptions.clear()
        self.watch.stop()
        for task in self._tasks:
            task.cancel()

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as client:
            self._loop, self._client = asyncio.get_running_loop(), client
            scanner = asyncio.create_task(self._scan(client))
            try:
                yield
            finally:
                self._loop = self._client = None
                scanner.cancel()
                for task in self._tasks:
                    task.cancel()
                await asyncio.gather(scanner, *self._tasks, return_exceptions=True)

    async def _scan(self, client: httpx.AsyncClient) -> None:
        # Real time on purpose: how often we look is not part of the emulated timeline (what is
        # due is read on the clock), and a manual clock also scans on every advance.
        while True:
            await asyncio.sleep(SCAN_SECONDS)
            self._scan_once(client)

    def _scan_once(self, client: httpx.AsyncClient) -> None:
        if not self.subscriptions:
            return
        try:
            for job, outcome in self.watch.settled():
                self._publish(client, job, outcome)
        except Exception:  # a bug here must not stop every later push
            log.exception("webhook scan failed")

    def _clock_moved(self) -> None:
        """A manual clock advanced: publish what became terminal before ``advance`` returns,
        so a test sees every event it made due queued (``Subscription.events``) at once."""
        loop, client = self._loop, self._client
        if loop is None or client is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._scan_once(client)
            return

        async def scan() -> None:
            self._scan_once(client)

        asyncio.run_coroutine_threadsafe(scan(), loop).result(timeout=10)

    def _publish(self, client: httpx.AsyncClient, job: EmulatedJob, outcome: str) -> None:
        event = {
            "id": f"evt_{secrets.token_hex(16)}",
            "object": "event",
            "created_at": int(self.clock.time()),
            "type": self.event_types[outcome],
            "data": {"id": job.id},
        }
        payload = json.dumps(event, separators=(",", ":"))
        message_id = f"wh_{secrets.token_hex(16)}"
        for sub in self.subscriptions.values():
            sub.events += 1
            task = asyncio.create_task(self._deliver(client, sub, message_id, payload))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self, client: httpx.AsyncClient, sub: Subscription, message_id: str, payload: str
    ) -> None:
        for delay in (0.0, *RETRY_DELAYS):
            await self.clock.sleep(delay)
            now = time.time()  # the signature's timestamp is checked against real time
            headers = {
                "webhook-id": message_id,
                "webhook-timestamp": str(int(now)),
                "webhook-signature": sub.signer.sign(
                    message_id, datetime.fromtimestamp(now, UTC), payload
                ),
                "content-type": "application/json",
                "user-agent": USER_AGENT,
            }
            sub.attempted += 1
            try:
                response = await client.post(sub.url, content=payload.encode(), headers=headers)
            except httpx.HTTPError:
                continue
            if response.is_success:
                sub.succeeded += 1
                return
        sub.failed += 1


def add_webhook_routes(app: FastAPI, pusher: WebhookPusher) -> None:
    @app.post("/_emulator/webhooks")
    async def subscribe(body: SubscriptionIn) -> dict[str, Any]:
        try:
            sub = pusher.subscribe(body.url, body.secret)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, 400)  # type: ignore[return-value]
        return sub.public()

    @app.get("/_emulator/webhooks")
    async def list_subscriptions() -> dict[str, Any]:
        return {"data": [s.public() for s in pusher.subscriptions.values()]}

    @app.delete("/_emulator/webhooks")
    async def remove_subscriptions() -> dict[str, Any]:
        pusher.clear()
        return {"data": []}

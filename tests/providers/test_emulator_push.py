"""The OpenAI emulator pushes one signed webhook per job that becomes terminal, to a real
loopback receiver, verifiable with both the ``openai`` SDK and ``standardwebhooks``."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import openai
import pytest
from openai.types.webhooks import (
    FineTuningJobCancelledWebhookEvent,
    FineTuningJobFailedWebhookEvent,
    FineTuningJobSucceededWebhookEvent,
)
from standardwebhooks import Webhook
from typer.testing import CliRunner

from emulators import create_app
from emulators.clock import ManualClock
from emulators.core import EmulatedJob, EmulatorState, Progress
from emulators.push import RETRY_DELAYS, TerminalWatch
from emulators.testing import EmulatorHandle, running_emulator
from tests.providers.emulated_jobs import openai_job
from tuneforge_cli import emulate
from tuneforge_cli.main import app as cli

SECRET = "whsec_" + base64.b64encode(b"emulator-push-test-secret-32byte").decode()
FINE_TUNING_EVENTS = (
    FineTuningJobSucceededWebhookEvent,
    FineTuningJobFailedWebhookEvent,
    FineTuningJobCancelledWebhookEvent,
)
EVENT_CLASSES = {
    "fine_tuning.job.succeeded": FineTuningJobSucceededWebhookEvent,
    "fine_tuning.job.failed": FineTuningJobFailedWebhookEvent,
    "fine_tuning.job.cancelled": FineTuningJobCancelledWebhookEvent,
}


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class Receiver:
    port: int = 0
    statuses: dict[str, list[int]] = field(default_factory=dict)
    """Per path, the statuses to answer in order; then 200."""
    gates: dict[str, threading.Event] = field(default_factory=dict)
    """Per path, an event the answer waits for (a slow receiver, held as long as a test says)."""
    got: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Delivery]:
        with self.lock:
            return [d for d in self.got if d.path == path]

    def wait_for(self, path: str, count: int) -> list[Delivery]:
        """The deliveries at ``path`` once there are ``count`` (a generous bound, not a timing)."""
        wait_until(lambda: len(self.at(path)) >= count)
        return self.at(path)


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``condition`` until it holds; fails only when it never does (a bug, not a slow box)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with receiver.lock:
                receiver.got.append(Delivery(self.path, headers, body, time.time()))
                queued = receiver.statuses.get(self.path)
                status = queued.pop(0) if queued else 200
                gate = receiver.gates.get(self.path)
            if gate is not None:
                gate.wait(timeout=30)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = int(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def verified(delivery: Delivery) -> dict[str, Any]:
    """The event, after both libraries accepted its signature (each raises otherwise)."""
    client = openai.OpenAI(api_key="x", webhook_secret=SECRET)
    event = client.webhooks.unwrap(delivery.body, delivery.headers)
    payload: dict[str, Any] = Webhook(SECRET).verify(delivery.body, delivery.headers)
    assert isinstance(event, EVENT_CLASSES[payload["type"]])
    assert isinstance(event, FINE_TUNING_EVENTS)
    assert event.data.id == payload["data"]["id"] and event.id == payload["id"]
    assert delivery.headers["content-type"] == "application/json"
    assert payload["object"] == "event" and payload["id"].startswith("evt_")
    assert isinstance(payload["created_at"], int)
    return payload


def job(emu: EmulatorHandle, job_id: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{emu.sdk_base_url}/fine_tuning/jobs/{job_id}").json()
    return data


def counts(emu: EmulatorHandle, url: str) -> tuple[int, int, int, int]:
    """The subscription's (events, attempted, succeeded, failed)."""
    [sub] = [s for s in emu.webhook_subscriptions() if s["url"] == url]
    return sub["events"], sub["attempted"], sub["succeeded"], sub["failed"]


def test_a_clock_finished_job_is_pushed_once_when_its_clock_reaches_the_end() -> None:
    clock = ManualClock()
    with (
        running_receiver() as receiver,
        running_emulator("openai", phase_seconds=1.0, clock=clock) as emu,
    ):
        hook = receiver.url("/hook")
        emu.subscribe_webhooks(hook, SECRET)
        job_id = openai_job(emu)
        clock.advance(4.5)  # terminal after 5 phases of 1 s: not yet
        assert job(emu, job_id)["status"] == "running"
        assert counts(emu, hook) == (0, 0, 0, 0)
        clock.advance(0.5)  # the advance itself scans: the event is queued when it returns
        assert counts(emu, hook)[0] == 1
        [delivery] = receiver.wait_for("/hook", 1)
        event = verified(delivery)
        assert event["type"] == "fine_tuning.job.succeeded" and event["data"]["id"] == job_id
        assert event["created_at"] == int(clock.time())
        assert job(emu, job_id)["status"] == "succeeded"
        wait_until(lambda: counts(emu, hook) == (1, 1, 1, 0))
        clock.advance(600)  # reported once: later scans find nothing more
        assert counts(emu, hook) == (1, 1, 1, 0) and len(receiver.at("/hook")) == 1


def test_finish_in_pushes_at_the_new_finish_time_not_before() -> None:
    clock = ManualClock()
    with (
        running_receiver() as receiver,
        running_emulator("openai", phase_seconds=60, clock=clock) as emu,
    ):
        hook = receiver.url("/hook")
        emu.subscribe_webhooks(hook, SECRET)
        job_id = openai_job(emu)
        emu.finish_in(job_id, 1.0)
        estimate = job(emu, job_id)["estimated_finish"]
        assert estimate == int(clock.time() + 1.0)
        clock.advance(0.75)
        assert job(emu, job_id)["status"] == "running"
        assert counts(emu, hook)[0] == 0
        clock.advance(0.25)
        assert counts(emu, hook)[0] == 1
        [delivery] = receiver.wait_for("/hook", 1)
        assert verified(delivery)["data"]["id"] == job_id
        assert job(emu, job_id)["finished_at"] == estimate


def test_advance_cancel_and_failure_each_push_one_event_to_every_subscription() -> None:
    clock = ManualClock()
    with (
        running_receiver() as receiver,
        running_emulator("openai", phase_seconds=60, clock=clock) as emu,
    ):
        finished_before = openai_job(emu)
        emu.finish_in(finished_before, 0.0)  # terminal before anyone subscribed: never pushed
        created_before = openai_job(emu)  # still counts once it finishes
        receiver.gates["/slow"] = threading.Event()  # answers nothing until the test says
        emu.subscribe_webhooks(receiver.url("/slow"), SECRET)
        emu.subscribe_webhooks(receiver.url("/fast"), SECRET)

        emu.inject(kind="fail_job", message="bad rows")
        failing = openai_job(emu)
        cancelled = openai_job(emu)
        emu.advance(created_before)
        httpx.post(f"{emu.sdk_base_url}/fine_tuning/jobs/{cancelled}/cancel")
        emu.finish_in(failing, 0.0)

        # All three reach the fast receiver while the slow one still holds its requests.
        fast = receiver.wait_for("/fast", 3)
        wait_until(lambda: counts(emu, receiver.url("/fast")) == (3, 3, 3, 0))
        assert counts(emu, receiver.url("/slow"))[2] == 0
        receiver.gates["/slow"].set()
        slow = receiver.wait_for("/slow", 3)
        wait_until(lambda: counts(emu, receiver.url("/slow")) == (3, 3, 3, 0))
        expected = {
            created_before: "fine_tuning.job.succeeded",
            cancelled: "fine_tuning.job.cancelled",
            failing: "fine_tuning.job.failed",
        }
        for path, deliveries in (("/fast", fast), ("/slow", slow)):
            assert len(receiver.at(path)) == 3
            events = [verified(d) for d in deliveries]
            assert {e["data"]["id"]: e["type"] for e in events} == expected
        assert job(emu, failing)["error"]["message"] == "bad rows"
        # One event per job: every subscription gets the same event and webhook-id.
        by_job = {d.event["data"]["id"]: d for d in fast}
        for d in slow:
            assert d.event["id"] == by_job[d.event["data"]["id"]].event["id"]
            assert d.headers["webhook-id"] == by_job[d.event["data"]["id"]].headers["webhook-id"]


def test_a_failed_attempt_is_retried_after_its_delay_with_the_same_webhook_id() -> None:
    clock = ManualClock()
    with (
        running_receiver() as receiver,
        running_emulator("openai", phase_seconds=60, clock=clock) as emu,
    ):
        flaky = receiver.url("/flaky")
        receiver.statuses["/flaky"] = [500]
        emu.subscribe_webhooks(flaky, SECRET)
        job_id = openai_job(emu)
        emu.advance(job_id)
        [first] = receiver.wait_for("/flaky", 1)
        clock.wait_for_sleepers(1)  # the delivery waits for its first retry delay (0.5 s)
        clock.advance(0.25)
        assert clock.sleepers() == 1 and counts(emu, flaky) == (1, 1, 0, 0)
        clock.advance(0.25)
        first, retry = receiver.wait_for("/flaky", 2)
        assert first.headers["webhook-id"] == retry.headers["webhook-id"]
        assert first.body == retry.body
        assert verified(retry)["data"]["id"] == job_id
        wait_until(lambda: counts(emu, flaky) == (1, 2, 1, 0))
        assert clock.sleepers() == 0  # a success is not retried
        clock.advance(60)
        assert counts(emu, flaky) == (1, 2, 1, 0) and len(receiver.at("/flaky")) == 2


def test_a_receiver_that_keeps_failing_is_given_up_after_the_last_retry() -> None:
    clock = ManualClock()
    with (
        running_receiver() as receiver,
        running_emulator("openai", phase_seconds=60, clock=clock) as emu,
    ):
        down = receiver.url("/down")
        receiver.statuses["/down"] = [503] * 10
        emu.subscribe_webhooks(down, SECRET)
        emu.advance(openai_job(emu))
        for attempt, delay in enumerate(RETRY_DELAYS, start=1):
            receiver.wait_for("/down", attempt)
            clock.wait_for_sleepers(1)
            clock.advance(delay)
        receiver.wait_for("/down", len(RETRY_DELAYS) + 1)
        wait_until(lambda: counts(emu, down) == (1, len(RETRY_DELAYS) + 1, 0, 1))
        assert clock.sleepers() == 0


def test_subscriptions_are_listed_removed_and_reset() -> None:
    with running_receiver() as receiver, running_emulator("openai", phase_seconds=60) as emu:
        control = f"{emu.base_url}/_emulator/webhooks"
        bad = httpx.post(control, json={"url": receiver.url("/h"), "secret": "not-a-secret"})
        assert bad.status_code == 400
        created = httpx.post(control, json={"url": receiver.url("/h"), "secret": SECRET}).json()
        assert created["id"].startswith("whsub_") and created["url"] == receiver.url("/h")
        assert [s["id"] for s in httpx.get(control).json()["data"]] == [created["id"]]
        assert httpx.delete(control).json() == {"data": []}
        assert httpx.get(control).json()["data"] == []

        emu.subscribe_webhooks(receiver.url("/h"), SECRET)
        emu.reset()
        assert emu.webhook_subscriptions() == []
        forgotten = openai_job(emu)
        emu.advance(forgotten)  # finished while nobody subscribed: never pushed
        emu.subscribe_webhooks(receiver.url("/h"), SECRET)
        later = openai_job(emu)
        emu.advance(later)
        [delivery] = receiver.wait_for("/h", 1)
        assert verified(delivery)["data"]["id"] == later
        assert counts(emu, receiver.url("/h"))[0] == 1


def test_the_clock_control_routes_move_a_manual_clock_only() -> None:
    clock = ManualClock()
    with running_emulator("openai", phase_seconds=1.0, clock=clock) as emu:
        job_id = openai_job(emu)
        before = clock.time()
        emu.advance_clock(5.0)
        assert clock.time() == before + 5.0 and job(emu, job_id)["status"] == "succeeded"
        assert httpx.get(f"{emu.base_url}/_emulator/clock").json()["manual"] is True
    with running_emulator("openai") as emu, pytest.raises(httpx.HTTPStatusError) as refused:
        emu.advance_clock(1.0)
    assert refused.value.response.status_code == 409


def test_only_the_openai_emulator_pushes() -> None:
    with running_emulator("together") as emu, pytest.raises(httpx.HTTPStatusError):
        emu.subscribe_webhooks("http://127.0.0.1:9/h", SECRET)
    with pytest.raises(ValueError, match="only the OpenAI"):
        create_app("together", webhooks=[("http://127.0.0.1:9/h", SECRET)])


def test_subscriptions_given_at_start_push_from_the_first_job() -> None:
    with running_receiver() as receiver:
        subscribed = [(receiver.url("/start"), SECRET)]
        with running_emulator("openai", phase_seconds=60, webhooks=subscribed) as emu:
            assert [s["url"] for s in emu.webhook_subscriptions()] == [receiver.url("/start")]
            job_id = openai_job(emu)
            emu.advance(job_id)
            [delivery] = receiver.wait_for("/start", 1)
            assert verified(delivery)["data"]["id"] == job_id


def test_emulate_command_subscribes_its_webhook(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[dict[str, Any]] = []
    monkeypatch.setattr(emulate, "serve", lambda *args, **kwargs: served.append(kwargs))
    url = ["--webhook-url", "http://127.0.0.1:9/hook"]
    ok = CliRunner().invoke(cli, ["emulate", "openai", *url, "--webhook-secret", SECRET])
    assert ok.exit_code == 0, ok.output
    assert served[0]["webhooks"] == [("http://127.0.0.1:9/hook", SECRET)]
    for args in (
        ["emulate", "openai", *url],
        ["emulate", "together", *url, "--webhook-secret", SECRET],
        ["emulate", "openai", *url, "--webhook-secret", "whsec_%%%"],
    ):
        assert CliRunner().invoke(cli, args).exit_code == 2
    assert len(served) == 1


def test_watching_thousands_of_unfinished_jobs_costs_nothing_per_scan() -> None:
    state = EmulatorState(phases=5, phase_seconds=60, clock=ManualClock())
    for n in range(10_000):
        state.add_job(f"ftjob-{n}", {}, 1)
    watch = TerminalWatch(state)
    watch.start()
    state.add_job("ftjob-late", {}, 1)
    looked_at: list[str] = []
    progress = state.progress

    def counted(job: EmulatedJob) -> Progress:
        looked_at.append(job.id)
        return progress(job)

    state.progress = counted  # type: ignore[method-assign]
    for _ in range(100):
        assert watch.settled() == []
    assert looked_at == []  # no job is due: a scan looks at none of them
    state.advance(state.jobs["ftjob-42"])
    state.advance(state.jobs["ftjob-late"])
    found = {(j.id, outcome) for j, outcome in watch.settled()}
    assert found == {("ftjob-42", "succeeded"), ("ftjob-late", "succeeded")}
    state.advance(state.jobs["ftjob-42"])  # already reported: not again
    assert watch.settled() == []
    watch.stop()
    state.advance(state.jobs["ftjob-7"])
    assert watch.settled() == []

"""Run an emulator on a free loopback port in a background thread, for tests anywhere.

with running_emulator("together", phase_seconds=0.05) as emu:
    client = Together(api_key="k", base_url=emu.sdk_base_url)
    emu.inject(kind="status", status=429, retry_after=0.1, path="/v1/fine-tunes")
    assert emu.job_count() == 1

Pass ``clock=ManualClock()`` (``emulators.clock``) to move the emulator's time only by
``clock.advance(seconds)``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from emulators import create_app
from emulators.clock import Clock


@dataclass(frozen=True)
class EmulatorHandle:
    provider: str
    base_url: str  # http://127.0.0.1:PORT

    @property
    def sdk_base_url(self) -> str:
        """What the provider SDK's base-URL option takes (OpenAI's includes ``/v1``)."""
        return f"{self.base_url}/v1" if self.provider == "openai" else self.base_url

    def _control(self, method: str, path: str, json: Any = None) -> Any:
        response = httpx.request(method, f"{self.base_url}/_emulator{path}", json=json, timeout=10)
        response.raise_for_status()
        return response.json()

    def inject(self, **rule: Any) -> None:
        """Arm one fault rule (see ``emulators.core.FaultRule``)."""
        self._control("POST", "/faults", rule)

    def clear_faults(self) -> None:
        self._control("DELETE", "/faults")

    def jobs(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._control("GET", "/jobs")["data"]
        return data

    def job_count(self) -> int:
        return len(self.jobs())

    def request_count(self) -> int:
        """Provider API requests served so far (control routes not counted)."""
        return int(self._control("GET", "/requests")["count"])

    def requests_by_endpoint(self) -> dict[str, int]:
        """Provider API requests served so far per ``"METHOD /route/{param}"``."""
        data: dict[str, int] = self._control("GET", "/requests")["by_endpoint"]
        return data

    def requests(self) -> list[dict[str, Any]]:
        """The latest provider API requests: method, path and the Authorization header."""
        data: list[dict[str, Any]] = self._control("GET", "/requests")["data"]
        return data

    def cap_list_pages(self, most: int | None, *, refuse: bool = False) -> None:
        self._control("POST", "/list_page_max", {"max": most, "refuse": refuse})

    def advance(self, job_id: str) -> None:
        self._control("POST", f"/jobs/{job_id}/advance")

    def finish_in(self, job_id: str, seconds: float) -> None:
        """Run the job from now and finish it ``seconds`` later (HTTP 409 when it has already
        finished or is being cancelled)."""
        self._control("POST", f"/jobs/{job_id}/finish_in", {"seconds": seconds})

    def subscribe_webhooks(self, url: str, secret: str) -> None:
        """OpenAI only: push a signed event to ``url`` for every job that becomes terminal."""
        self._control("POST", "/webhooks", {"url": url, "secret": secret})

    def webhook_subscriptions(self) -> list[dict[str, Any]]:
        """OpenAI only: subscriptions with their delivery counts."""
        data: list[dict[str, Any]] = self._control("GET", "/webhooks")["data"]
        return data

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's manual clock (HTTP 409 on the system clock); a test in the same
        process may as well call ``ManualClock.advance`` itself."""
        self._control("POST", "/clock/advance", {"seconds": seconds})

    def reset(self) -> None:
        self._control("POST", "/reset")


@contextmanager
def running_emulator(
    provider: str,
    *,
    phase_seconds: float = 0.05,
    retired: bool = False,
    webhooks: Sequence[tuple[str, str]] = (),
    clock: Clock | None = None,
) -> Iterator[EmulatorHandle]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(
            provider,
            phase_seconds=phase_seconds,
            retired=retired,
            webhooks=webhooks,
            clock=clock,
        ),
        log_level="critical",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"{provider} emulator did not start")
        time.sleep(0.01)
    try:
        yield EmulatorHandle(provider, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()

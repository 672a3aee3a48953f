"""Loopback emulators of each provider's fine-tuning HTTP API, for tests and demos.

``create_app(provider, phase_seconds=...)`` builds the ASGI app; ``serve(...)`` runs it
(blocking); ``emulators.testing.running_emulator`` runs one in a background thread.
See ``emulators.core`` for the ``/_emulator/*`` control routes and
``emulators.faults`` for the fault kinds.
"""

from __future__ import annotations

from collections.abc import Sequence

from emulators.clock import Clock, ManualClock, SystemClock
from emulators.faults import ASGIApp, FaultRule

PROVIDERS = ("openai", "together", "mistral", "fireworks", "vertex")


def create_app(
    provider: str,
    *,
    phase_seconds: float = 2.0,
    retired: bool = False,
    webhooks: Sequence[tuple[str, str]] = (),
    clock: Clock | None = None,
) -> ASGIApp:
    """The emulator app for ``provider``. ``retired`` (Mistral only) answers 410 on fine-tuning;
    ``webhooks`` (OpenAI only) are (url, secret) subscriptions to push job events to; ``clock``
    (default: the system's) is what every job's timeline reads (``emulators.clock``)."""
    if webhooks and provider != "openai":
        raise ValueError("only the OpenAI emulator pushes webhooks")
    if provider == "openai":
        from emulators import openai

        return openai.create_app(phase_seconds, webhooks, clock=clock)
    if provider == "together":
        from emulators import together

        return together.create_app(phase_seconds, clock=clock)
    if provider == "mistral":
        from emulators import mistral

        return mistral.create_app(phase_seconds, retired=retired, clock=clock)
    if provider == "fireworks":
        from emulators import fireworks

        return fireworks.create_app(phase_seconds, clock=clock)
    if provider == "vertex":
        from emulators import vertex

        return vertex.create_app(phase_seconds, clock=clock)
    raise ValueError(f"unknown provider {provider!r}; choose one of {', '.join(PROVIDERS)}")


def serve(
    provider: str,
    host: str = "127.0.0.1",
    port: int = 9100,
    *,
    phase_seconds: float = 2.0,
    retired: bool = False,
    webhooks: Sequence[tuple[str, str]] = (),
) -> None:
    """Run the emulator until interrupted."""
    import uvicorn

    app = create_app(provider, phase_seconds=phase_seconds, retired=retired, webhooks=webhooks)
    uvicorn.run(app, host=host, port=port, log_level="info")


__all__ = [
    "PROVIDERS",
    "Clock",
    "FaultRule",
    "ManualClock",
    "SystemClock",
    "create_app",
    "serve",
]

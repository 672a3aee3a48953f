"""``tuneforge emulate PROVIDER``: serve a provider's fine-tuning API on loopback for demos."""

from __future__ import annotations

from typing import Annotated

import typer

from providers.emulators import PROVIDERS, serve


def emulate(
    provider: Annotated[str, typer.Argument(help=f"One of: {', '.join(PROVIDERS)}.")],
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9100,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    phase_seconds: Annotated[float, typer.Option(help="Seconds a job spends in each phase.")] = 2.0,
    retired: Annotated[
        bool, typer.Option(help="Mistral only: answer 410 Gone, like today's API.")
    ] = False,
) -> None:
    """Run a loopback emulator of PROVIDER's fine-tuning API (control routes under /_emulator)."""
    if provider not in PROVIDERS:
        raise typer.BadParameter(
            f"unknown provider {provider!r}; choose one of {', '.join(PROVIDERS)}"
        )
    if phase_seconds <= 0:
        raise typer.BadParameter("--phase-seconds must be positive")
    serve(provider, host, port, phase_seconds=phase_seconds, retired=retired)

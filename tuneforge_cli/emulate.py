"""``tuneforge emulate PROVIDER``: serve a provider's fine-tuning API on loopback for demos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emulators import PROVIDERS, serve
from emulators.push import signer_for
from emulators.service_account import write_service_account_file


def emulate(
    provider: Annotated[str, typer.Argument(help=f"One of: {', '.join(PROVIDERS)}.")],
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9100,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    phase_seconds: Annotated[float, typer.Option(help="Seconds a job spends in each phase.")] = 2.0,
    retired: Annotated[
        bool, typer.Option(help="Mistral only: answer 410 Gone, like today's API.")
    ] = False,
    webhook_url: Annotated[
        str | None,
        typer.Option(help="OpenAI only: push fine_tuning.job.* webhooks to this URL."),
    ] = None,
    webhook_secret: Annotated[
        str | None,
        typer.Option(help="Signing secret (whsec_<base64>) for --webhook-url."),
    ] = None,
    key_file: Annotated[
        Path | None,
        typer.Option(
            help="Vertex only: write a service-account key file whose token_uri is this "
            "emulator (for TUNEFORGE_VERTEX_CREDENTIALS_FILE)."
        ),
    ] = None,
) -> None:
    """Run a loopback emulator of PROVIDER's fine-tuning API (control routes under /_emulator)."""
    if provider not in PROVIDERS:
        raise typer.BadParameter(
            f"unknown provider {provider!r}; choose one of {', '.join(PROVIDERS)}"
        )
    if phase_seconds <= 0:
        raise typer.BadParameter("--phase-seconds must be positive")
    webhooks: list[tuple[str, str]] = []
    if webhook_url is not None or webhook_secret is not None:
        if webhook_url is None or webhook_secret is None:
            raise typer.BadParameter("--webhook-url and --webhook-secret go together")
        if provider != "openai":
            raise typer.BadParameter("only the OpenAI emulator pushes webhooks")
        try:
            signer_for(webhook_url, webhook_secret)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        webhooks.append((webhook_url, webhook_secret))
    if key_file is not None:
        if provider != "vertex":
            raise typer.BadParameter("--key-file is for the vertex emulator")
        write_service_account_file(key_file, f"http://{host}:{port}/token")
        typer.echo(f"wrote {key_file}; its token_uri is http://{host}:{port}/token")
    serve(provider, host, port, phase_seconds=phase_seconds, retired=retired, webhooks=webhooks)

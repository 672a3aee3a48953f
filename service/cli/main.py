"""The ``tuneforge`` command. Each sub-command lives in its own module and registers here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="tuneforge",
    help="Run LLM fine-tuning jobs on managed providers or your own GPUs behind one API.",
    no_args_is_help=True,
    add_completion=False,
)

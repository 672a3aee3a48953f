"""The ``tuneforge`` command. Each sub-command lives in its own module and registers here."""

from __future__ import annotations

import typer

from tuneforge_cli import admin, demo, emulate, runtime, validate

app = typer.Typer(
    name="tuneforge",
    help="Run LLM fine-tuning jobs on managed providers or your own GPUs behind one API.",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(runtime.migrate)
app.command()(runtime.serve)
app.command()(runtime.api)
app.command()(runtime.worker)
app.command()(runtime.beat)
app.add_typer(admin.tenants_app, name="tenants")
app.add_typer(admin.keys_app, name="keys")
app.command()(validate.validate)
app.command()(emulate.emulate)
app.command()(demo.demo)

if __name__ == "__main__":
    app()

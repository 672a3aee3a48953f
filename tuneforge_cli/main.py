"""The ``tuneforge`` command. Each sub-command lives in its own module and registers here."""

from __future__ import annotations

import os

import typer

from tuneforge_cli import admin, demo, emulate, runtime, secrets_cmd, study, validate

app = typer.Typer(
    name="tuneforge",
    help="Run LLM fine-tuning jobs on managed providers or your own GPUs behind one API.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _private_files() -> None:
    # Every file this process writes (datasets, artifacts, databases, keys) is readable by
    # the service's own user only.
    os.umask(0o077)


app.command()(runtime.migrate)
app.command()(runtime.serve)
app.command()(runtime.api)
app.command()(runtime.worker)
app.command()(runtime.beat)
app.add_typer(admin.tenants_app, name="tenants")
app.add_typer(admin.keys_app, name="keys")
app.add_typer(secrets_cmd.secrets_app, name="secrets")
app.add_typer(study.study_app, name="study")
app.command()(validate.validate)
app.command()(emulate.emulate)
app.command()(demo.demo)

if __name__ == "__main__":
    app()

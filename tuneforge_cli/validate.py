"""``tuneforge validate PATH``: check a training file before a cent is spent on it.

Exit status: 0 valid, 1 invalid, 2 usage error (missing file, unknown provider, a ``--model``
the catalog does not know on that provider).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from providers.catalog import resolve_provider
from service.billing.catalog import service_catalog
from service.datasets.billing import Epochs
from service.datasets.report import ValidationReport
from service.datasets.rules import PROVIDERS
from service.datasets.tokens import model_tokenizer_dir
from service.datasets.validate import ValidationOptions, validate_file
from service.settings import get_settings

_PROGRESS_FROM_BYTES = 8 * 1024 * 1024
_SHOWN_ISSUES = 20


def _usage_error(message: str) -> typer.Exit:
    line = Text("error:", style="red")
    line.append(f" {message}")  # may quote a path or option the user typed
    Console(stderr=True).print(line, highlight=False)
    return typer.Exit(2)


def _tokenizer_dir(explicit: Path | None, model: str | None) -> Path | None:
    if explicit is not None:
        return explicit
    return model_tokenizer_dir(get_settings().tokenizers_dir, model)


def _known_model(provider: str, model: str) -> str:
    """``model`` as the catalog names it on ``provider`` (a ``provider/`` prefix stripped), or
    a usage error listing the models known there: the provider's defaults would otherwise
    stand in for an unknown model without a word."""
    _, name = resolve_provider(model, provider)
    known = sorted({m.model for m in service_catalog(get_settings()) if m.provider == provider})
    if name not in known:
        raise _usage_error(
            f"unknown model {model!r} on {provider}; known there: {', '.join(known) or 'none'}"
        )
    return name


def validate(
    path: Annotated[Path, typer.Argument(help="JSONL training file")],
    provider: Annotated[str, typer.Option(help=f"target: {', '.join(PROVIDERS)}")] = "openai",
    model: Annotated[str | None, typer.Option(help="base model (tokenizer, context)")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    max_line_bytes: Annotated[int, typer.Option(min=1, help="longest line accepted")] = (
        16 * 1024 * 1024
    ),
    context_length: Annotated[int | None, typer.Option(min=1, help="model context")] = None,
    epochs: Annotated[str | None, typer.Option(help="epochs for billed tokens, or auto")] = None,
    tokenizer_dir: Annotated[
        Path | None, typer.Option(help="directory with the model's tokenizer.json")
    ] = None,
) -> None:
    """Validate a fine-tuning dataset: every problem with its line, tokens and billed tokens."""
    if provider not in PROVIDERS:
        raise _usage_error(f"unknown provider {provider!r}; choose one of {', '.join(PROVIDERS)}")
    if not path.is_file():
        raise _usage_error(f"no such file: {path}")
    if model is not None:
        model = _known_model(provider, model)
    chosen_epochs: Epochs | None = None
    if epochs == "auto":
        chosen_epochs = "auto"
    elif epochs is not None:
        if not epochs.isdigit() or int(epochs) < 1:
            raise _usage_error("--epochs must be a positive integer or 'auto'")
        chosen_epochs = int(epochs)
    options = ValidationOptions(
        max_line_bytes=max_line_bytes,
        tokenizer_dir=_tokenizer_dir(tokenizer_dir, model),
        epochs=chosen_epochs,
    )
    size = path.stat().st_size
    if json_output or size < _PROGRESS_FROM_BYTES:
        report = validate_file(
            path, provider=provider, model=model, context_length=context_length, options=options
        )
    else:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as bar:
            task = bar.add_task("validating", total=size)
            report = validate_file(
                path,
                provider=provider,
                model=model,
                context_length=context_length,
                options=options,
                progress=lambda done: bar.update(task, completed=done),
            )
    if json_output:
        typer.echo(json.dumps(report.to_dict()))
    else:
        _print_human(report, path)
    raise typer.Exit(0 if report.valid else 1)


def _print_human(report: ValidationReport, path: Path) -> None:
    console = Console()
    summary = report.to_dict()
    tokens = summary["tokens"]
    table = Table(title=Text(f"{path.name} for {report.provider}"), show_header=False)
    table.add_column(style="bold")
    table.add_column()
    verdict = "[green]valid[/green]" if report.valid else "[red]invalid[/red]"
    spread = tokens.get("per_example") or {}
    rows = [
        ("result", verdict),
        ("format", str(report.format)),
        ("examples", f"{report.examples:,}"),
        ("messages", f"{report.messages:,}"),
        ("errors / warnings", f"{report.errors.total:,} / {report.warnings.total:,}"),
        ("tokens", f"{tokens['total']:,}" + (" (estimated)" if tokens["estimated"] else "")),
        ("trainable tokens", f"{tokens['trainable']:,}"),
        (
            "per example min/p50/p95/max",
            " / ".join(str(spread.get(k)) for k in ("min", "p50", "p95", "max")),
        ),
        ("over context", str(tokens.get("examples_over_context"))),
        (
            "billed tokens",
            "n/a"
            if report.billed_tokens is None
            else f"{report.billed_tokens:,} ({report.epochs} epochs)",
        ),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    for title, issues, style in (
        ("errors", summary["errors"], "red"),
        ("warnings", summary["warnings"], "yellow"),
    ):
        if not issues:
            continue
        console.print(f"[{style}]{title}[/{style}] (first {min(len(issues), _SHOWN_ISSUES)}):")
        for issue in issues[:_SHOWN_ISSUES]:
            where = "file" if issue["line"] is None else f"line {issue['line']}"
            # Messages quote the user's data: print them as plain text, never as markup.
            line = Text(f"  {where}: ")
            line.append(str(issue["code"]), style=style)
            line.append(f" {issue['message']}")
            console.print(line, highlight=False)

"""``tuneforge study run SPEC``: submit a study (a YAML or JSON file with the body of
``POST /v1/fine_tuning/studies``) to a running tuneforge, follow it live, then print the
leaderboard and the verdict (``--json``: the final study object, for scripts)."""

from __future__ import annotations

import json
import time
from contextlib import suppress
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import yaml
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

study_app = typer.Typer(help="Studies: many candidates, baselines, one budget, one verdict.")

TERMINAL = frozenset({"completed", "failed", "cancelled"})
MAX_SPEC_BYTES = 1024 * 1024


class StudyError(Exception):
    pass


def load_spec(path: Path) -> dict[str, Any]:
    if path.stat().st_size > MAX_SPEC_BYTES:
        raise StudyError(f"{path} is over 1 MiB: a study spec names files, it does not hold them")
    text = path.read_text(encoding="utf-8")
    try:
        spec = (
            yaml.safe_load(text) if path.suffix.lower() in (".yaml", ".yml") else json.loads(text)
        )
    except (ValueError, yaml.YAMLError) as exc:
        raise StudyError(
            f"{path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}"
        ) from None
    except RecursionError:
        raise StudyError(f"{path} nests too deep to read") from None
    if not isinstance(spec, dict):
        raise StudyError(f"{path} must hold one object (the study's fields)")
    if _expanded_size(spec) > MAX_SPEC_VALUES:
        # YAML aliases can make a small file a huge (or, pointing at themselves, endless) body
        raise StudyError(
            f"{path} expands to more than {MAX_SPEC_VALUES} values (YAML aliases?): "
            "write the study's fields out plainly"
        )
    return spec


MAX_SPEC_VALUES = 100_000


def _expanded_size(value: Any) -> int:
    """Values in ``value`` as JSON would write them out (an alias counts each time it is
    used), counted without recursion; stops past ``MAX_SPEC_VALUES``."""
    count, stack = 0, [value]
    while stack and count <= MAX_SPEC_VALUES:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _answer(response: httpx.Response) -> dict[str, Any]:
    body: Any = None
    with suppress(ValueError):
        body = response.json()
    if response.status_code >= 400:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        where = f" [{error.get('param')}]" if error.get("param") else ""
        code = f" ({error.get('code')})" if error.get("code") else ""
        message = error.get("message") or response.text[:500]
        raise StudyError(f"HTTP {response.status_code}{code}{where}: {message}")
    if not isinstance(body, dict):
        raise StudyError(f"unexpected answer: {response.text[:500]}")
    return body


def _interval(estimate: dict[str, Any] | None) -> str:
    if not estimate:
        return "-"
    return f"{estimate['value']:.3f} [{estimate['ci_low']:.3f}, {estimate['ci_high']:.3f}]"


def progress(study: dict[str, Any]) -> Group:
    table = Table(title=f"study {study['id']}: {study['status']}", expand=False)
    for column in ("candidate", "job", "status"):
        table.add_column(column)
    for candidate in study["candidates"]:
        table.add_row(candidate["model"], candidate.get("job_id") or "-", candidate["status"])
    events = study.get("events") or []
    last = Text(events[-1]["message"] if events else "", style="dim")
    return Group(table, last)


def _latency(found: dict[str, Any] | None) -> str:
    if not found or found.get("p50") is None:
        return "-"
    return f"{found['p50']:.0f} / {found['p95']:.0f}"


def leaderboard(study: dict[str, Any]) -> Group:
    table = Table(title=f"leaderboard (primary: {study['primary']})")
    for column in (
        "model",
        "role",
        "primary [95% CI]",
        "delta vs best baseline",
        "gates",
        "latency p50/p95 ms",
        "$/1k req",
        "$/month",
        "training $",
        "break-even",
    ):
        table.add_column(column)
    for row in study.get("leaderboard") or []:
        delta = row.get("delta_vs_best_baseline")
        even = row.get("break_even") or {}
        volume = even.get("volume_per_month")
        table.add_row(
            row["label"],
            row["role"],
            _interval(row.get("primary")),
            _interval(delta),
            "pass" if (row.get("gates") or {}).get("passed") else "fail",
            _latency(row.get("latency_ms")),
            row.get("inference_cost_per_1k") or "-",
            row.get("monthly_cost") or "-",
            row.get("training_cost") or "-",
            f"{volume:,}/month" if volume is not None else even.get("verdict", "-"),
        )
    verdict = study.get("verdict") or {}
    quote = study["quote"]["total"]["amount"]
    lines = [Text(f"quoted {quote} USD of a {study['budget']['amount']} USD budget")]
    if verdict:
        style = "bold green" if verdict.get("outcome") == "winner" else "bold yellow"
        lines.append(Text(f"verdict: {verdict.get('message')}", style=style))
    elif study.get("error"):
        lines.append(Text(f"error: {study['error'].get('message')}", style="bold red"))
    return Group(table, *lines)


def follow(
    client: httpx.Client, study: dict[str, Any], interval_s: float, timeout_s: float, live: bool
) -> dict[str, Any]:
    """Poll the study to its end; ``live`` shows its candidates and last event on stderr."""
    deadline = time.monotonic() + timeout_s
    console = Console(stderr=True)
    view = Live(progress(study), console=console, refresh_per_second=4, transient=True)
    if live:
        view.start()
    try:
        while study["status"] not in TERMINAL:
            if time.monotonic() > deadline:
                raise StudyError(f"study {study['id']} is still {study['status']} at the timeout")
            time.sleep(interval_s)
            study = _answer(client.get(f"/v1/fine_tuning/studies/{study['id']}"))
            if live:
                view.update(progress(study))
    finally:
        if live:
            view.stop()
    return study


@study_app.command("run")
def run(
    spec: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="YAML or JSON spec")],
    url: Annotated[str, typer.Option(envvar="TUNEFORGE_URL")] = "http://127.0.0.1:8000",
    api_key: Annotated[str, typer.Option(envvar="TUNEFORGE_API_KEY")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="print the final study as JSON")] = False,
    wait: Annotated[bool, typer.Option(help="follow the study to its end")] = True,
    interval: Annotated[float, typer.Option(min=0.1, max=600)] = 2.0,
    timeout: Annotated[float, typer.Option(min=1, help="give up following after (s)")] = 86_400,
) -> None:
    """Submit a study, follow it, print its leaderboard (exit 0 completed, 1 otherwise)."""
    out = Console()
    try:
        body = load_spec(spec)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            study = _answer(client.post("/v1/fine_tuning/studies", json=body))
            if wait:
                study = follow(client, study, interval, timeout, live=not as_json)
    except (StudyError, httpx.HTTPError, OSError) as exc:
        # Text, not markup: "[budget]" in a message is the field's name, not a style.
        Console(stderr=True, soft_wrap=True).print(
            Text.assemble(("study refused or lost: ", "bold red"), str(exc))
        )
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps(study, indent=2))
    else:
        out.print(leaderboard(study) if study["status"] in TERMINAL else progress(study))
    if wait and study["status"] != "completed":
        raise typer.Exit(1)

"""``tuneforge demo``: the newcomer's first run. Builds a tiny chat model locally, starts the
embedded service (API + a worker on ``default,gpu``) unless its own already answers (a foreign
service on the port is named and refused), uploads a structured-extraction dataset (a sentence
in, the record as JSON out), splits off a held-out 20%, submits a ``local/`` job on the rest
through the REST API, streams its progress, then evaluates the base model against the tuned
one on the held-out part (``demo_eval``) and prints the table. Everything it started is stopped
on exit."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import typer

from service.db import migrations
from service.db.database import Database
from service.db.session import session_scope
from service.settings import Settings, get_settings
from service.tenants.service import create_api_key, create_tenant
from tuneforge_cli import demo_eval

DEMO_MODEL = "tiny-chat"
DEMO_EXAMPLES = 200
HELD_OUT = 0.2
TERMINAL = ("succeeded", "failed", "cancelled")

# One worker serves the demo's every queue, webhook deliveries included (serve gives those a
# worker of their own).
DEMO_WORKER_QUEUES = "default,gpu,webhooks"


def _build_model(models_dir: Path) -> Path:
    target = models_dir / DEMO_MODEL
    if (target / "config.json").is_file():
        typer.echo(f"• tiny model already built: {target}")
        return target
    typer.echo(f"• building a tiny Llama and its tokenizer in {target} (no downloads) …")
    os.environ["HF_HUB_OFFLINE"] = "1"
    from local_gpu.tiny import build_demo_model

    started = time.monotonic()
    build_demo_model(target)
    typer.echo(f"  done in {time.monotonic() - started:.1f}s")
    return target


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "tuneforge_cli.main", *args],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _stop(child: subprocess.Popen[bytes], name: str) -> None:
    if child.poll() is not None:
        return
    os.killpg(child.pid, signal.SIGTERM)
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=5)
    typer.echo(f"• stopped the {name} (pid {child.pid})")


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def foreign_service_problem(base: str, port: int, key: str, database_url: str) -> str | None:
    """Why the service on ``port`` can't be the demo's, or None when it is (or none answers).

    A tuneforge answering there is used only if it accepts the key the demo just wrote into
    its own database: one with another database would refuse every call with 401."""
    if not _healthy(base):
        if _port_in_use(port):
            return (
                f"port {port} is taken by another program (not a tuneforge service); "
                "stop it or run the demo with --port N"
            )
        return None
    try:
        answer = httpx.get(
            f"{base}/v1/files",
            params={"limit": 1},
            headers={"Authorization": f"Bearer {key}"},
            timeout=5,
        )
    except httpx.HTTPError as exc:
        return f"the service at {base} answered /healthz but not /v1/files ({exc})"
    if answer.status_code == 401:
        return (
            f"a tuneforge service already answers at {base} but uses another database than "
            f"this demo ({database_url}); stop it, point TUNEFORGE_DATA_DIR or "
            "TUNEFORGE_DATABASE_URL at its database, or run the demo with --port N"
        )
    if answer.status_code != 200:
        return f"the service at {base} is not a tuneforge API (GET /v1/files: {answer.status_code})"
    return None


@contextmanager
def _embedded_service(
    settings: Settings, models_dir: Path, base: str, port: int, key: str
) -> Iterator[None]:
    """Start the API and a worker as child processes unless the demo's service already answers;
    refuse a foreign service on the port instead of sending it the demo's requests."""
    problem = foreign_service_problem(base, port, key, settings.database_url)
    if problem is not None:
        raise typer.Exit(_fail(problem))
    if _healthy(base):
        typer.echo(f"• this demo's tuneforge service already answers at {base}; using it")
        yield
        return
    data_dir = settings.data_dir.resolve()
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        TUNEFORGE_DATA_DIR=str(data_dir),
        TUNEFORGE_DATABASE_URL=settings.database_url,
        TUNEFORGE_BROKER_URL=settings.broker_url,
        TUNEFORGE_LOCAL_MODELS_DIR=str(models_dir.resolve()),
        HF_HUB_OFFLINE="1",
    )
    typer.echo(f"• starting the embedded service on {base} (logs: {logs})")
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        api = _spawn(["api", "--host", "127.0.0.1", "--port", str(port)], env, logs / "api.log")
        children.append(("API", api))
        worker_args = ["worker", "--queues", DEMO_WORKER_QUEUES, "--beat"]
        children.append(("worker", _spawn(worker_args, env, logs / "worker.log")))
        deadline = time.monotonic() + 60
        while not _healthy(base):
            if api.poll() is not None or time.monotonic() > deadline:
                raise typer.Exit(_fail(f"the API did not start; see {logs / 'api.log'}"))
            time.sleep(0.2)
        yield
    finally:
        for name, child in reversed(children):
            _stop(child, name)


def _fail(message: str) -> int:
    typer.echo(f"error: {message}", err=True)
    return 1


def _demo_key(settings: Settings) -> str:
    database = Database.from_url(settings.database_url)
    try:
        with session_scope(database.sessions) as session:
            tenant = create_tenant(session, f"demo-{int(time.time())}")
            return create_api_key(session, tenant, name="tuneforge demo").plaintext
    finally:
        database.engine.dispose()


def _demo_dataset() -> bytes:
    from local_gpu.tiny import synthetic_extractions

    records = synthetic_extractions(DEMO_EXAMPLES, seed=11)
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code != 200:
        raise typer.Exit(_fail(f"{what}: HTTP {response.status_code} {response.text}"))
    body: dict[str, Any] = response.json()
    return body


def _show_event(event: dict[str, Any]) -> None:
    data = event.get("data") or {}
    if event.get("type") == "metrics":
        valid = f"  valid loss {data['valid_loss']:.3f}" if "valid_loss" in data else ""
        typer.echo(
            f"  step {data['step']:>3}/{data['total_steps']}  loss {data['train_loss']:.3f}"
            f"{valid}  lr {data['learning_rate']:.2e}  {data['tokens_per_second']:,.0f} tok/s"
        )
    else:
        typer.echo(f"  [{event.get('level', 'info')}] {event['message']}")


def _follow(client: httpx.Client, job_id: str, timeout_s: float) -> dict[str, Any]:
    """Print new events as they arrive until the job ends; return the final job."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_s
    while True:
        job = _check(client.get(f"/v1/fine_tuning/jobs/{job_id}"), "reading the job")
        page = _check(
            client.get(f"/v1/fine_tuning/jobs/{job_id}/events", params={"limit": 100}),
            "reading events",
        )
        for event in reversed(page["data"]):
            if event["id"] not in seen:
                seen.add(event["id"])
                _show_event(event)
        if job["status"] in TERMINAL:
            return job
        if time.monotonic() > deadline:
            raise typer.Exit(_fail(f"the job did not finish within {timeout_s:.0f}s"))
        time.sleep(0.5)


def _report(job: dict[str, Any], settings: Settings, base: str) -> None:
    typer.echo("")
    typer.echo(f"status:            {job['status']}")
    if job.get("error"):
        typer.echo(f"error:             {job['error'].get('message')}")
    typer.echo(f"fine-tuned model:  {job.get('fine_tuned_model')}")
    typer.echo(f"trained tokens:    {job.get('trained_tokens')}")
    cost = job.get("cost") or {}
    estimate = job.get("estimated_cost") or {}
    typer.echo(
        f"cost:              {cost.get('amount')} {cost.get('currency', '')} "
        f"({cost.get('basis')}; estimated {estimate.get('amount')})"
    )
    adapter = settings.data_dir.resolve() / "artifacts" / job["id"] / "adapter"
    if job["status"] == "succeeded":
        typer.echo(f"adapter on disk:   {adapter}")
        typer.echo("result files (GET /v1/fine_tuning/jobs/{id}/results/{name}):")
        for name in job.get("result_files") or []:
            typer.echo(f"  {base}/v1/fine_tuning/jobs/{job['id']}/results/{name}")


def _evaluate(client: httpx.Client, tuned_model: str, test_file: str, timeout_s: float) -> bool:
    """Base vs tuned on the held-out file through the evals API; print the table."""
    base_model = f"local/{DEMO_MODEL}"
    evaluation = demo_eval.create_eval(client, _check)
    typer.echo(
        f"\n• evaluating on the held-out part: eval {evaluation['id']}, "
        f"{base_model} vs {tuned_model} (real generation on the local worker)"
    )
    runs = {
        model: demo_eval.start_run(client, _check, evaluation["id"], model, test_file)
        for model in (base_model, tuned_model)
    }
    done = {
        model: demo_eval.wait_run(client, _check, evaluation["id"], run["id"], timeout_s)
        for model, run in runs.items()
    }
    for model, run in done.items():
        if run["status"] != "completed":
            error = (run.get("error") or {}).get("message", "")
            typer.echo(f"error: the run of {model} is {run['status']} {error}", err=True)
            return False
    comparison = _check(
        client.get(
            f"/v1/evals/{evaluation['id']}/compare",
            params={"runs": f"{done[tuned_model]['id']},{done[base_model]['id']}"},
        ),
        "comparing the runs",
    )
    typer.echo("")
    for line in demo_eval.table(evaluation, done[base_model], done[tuned_model], comparison):
        typer.echo(line)
    return True


def demo(
    port: int = typer.Option(8765, help="Port of the demo service (started if not running)."),
    timeout: float = typer.Option(600, help="Seconds to wait for the job to finish."),
) -> None:
    """Fine-tune a tiny model on this machine (CPU is fine) through the REST API, end to end."""
    settings = get_settings()
    models_dir = (settings.local_models_dir or settings.data_dir / "models").resolve()
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    typer.echo(f"tuneforge demo — data in {settings.data_dir.resolve()}")
    _build_model(models_dir)
    migrations.upgrade(settings)
    with ExitStack() as stack:
        key = _demo_key(settings)
        typer.echo("• created a demo tenant and API key")
        stack.enter_context(_embedded_service(settings, models_dir, base, port, key))
        client = stack.enter_context(
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        )
        files = {"file": ("demo-records.jsonl", _demo_dataset(), "application/jsonl")}
        uploaded = _check(
            client.post("/v1/files", files=files, data={"purpose": "fine-tune"}), "upload"
        )
        split = _check(
            client.post(
                f"/v1/files/{uploaded['id']}/split",
                json={"test_fraction": HELD_OUT, "seed": "demo"},
            ),
            "splitting the dataset",
        )
        train, test = split["train_file"], split["test_file"]
        typer.echo(
            f"• uploaded {DEMO_EXAMPLES} extraction chats (a sentence in, the record as JSON out)"
            f" as {uploaded['id']}; held out {split['report'].get('test_examples', '?')} "
            f"for evaluation ({test['id']}), training on {train['id']}"
        )
        job = _check(
            client.post(
                "/v1/fine_tuning/jobs",
                json={
                    "model": f"local/{DEMO_MODEL}",
                    "training_file": train["id"],
                    "suffix": "demo",
                    "hyperparameters": {
                        "n_epochs": 4,
                        "batch_size": 2,
                        "learning_rate_multiplier": 10,
                    },
                    "provider_options": {
                        "max_seq_len": 256,
                        "progress_every": 20,
                        "checkpoint_every": 80,
                    },
                },
            ),
            "creating the job",
        )
        typer.echo(f"• submitted {job['id']} (model local/{DEMO_MODEL}); progress:")
        final = _follow(client, job["id"], timeout)
        evaluated = False
        _report(final, settings, base)
        if final["status"] == "succeeded":
            evaluated = _evaluate(client, final["fine_tuned_model"], test["id"], timeout)
        typer.echo(f"\ndemo finished in {time.monotonic() - started:.0f}s")
    if final["status"] != "succeeded" or not evaluated:
        raise typer.Exit(1)

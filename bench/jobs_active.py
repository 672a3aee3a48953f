"""Many active jobs against the OpenAI emulator with ONE Celery worker (+ beat) at default poll,
sweep and reconcile settings (PostgreSQL + Redis). Prints:

- worst lag: the most any due step was overdue, sampled every second (includes the time a
  step is in flight), for the sweep (its next round; against the sweep's own interval) and for
  the jobs' detailed polls (against each job's interval), in the first and second half of the
  window (growth would mean the worker falls behind); with sweeps the window opens once the
  worker has finished its first round (its boot is not lag);
- provider calls per job per hour, in all and by endpoint (the emulator's counts over the
  measured window);
- provider-terminal -> our terminal: a random sample of jobs ends in the emulator; time until
  our row is terminal (its ``finished_at``);
- provider-terminal -> webhook delivered: a loopback receiver subscribed to terminal events.

How the sample ends (``--finish``):

- ``estimated`` (default): the provider knows when: each sampled job is set to finish a little
  more than one poll interval ahead, and reports it in ``estimated_finish`` as OpenAI does;
- ``pushed``: the jobs end without warning, and the emulator sends OpenAI's signed
  fine-tuning webhooks to our API's ``/provider_webhooks/openai`` (an API process runs too);
- ``surprise``: the jobs end without warning and nothing is pushed: only the sweep (or, with
  ``--no-sweep``, the routine per-job polls) sees it.

Pushed and surprise ends come at random moments over ``--spread-s`` (30 s: 100 ends in 30 s is
about the end rate of 10,000 jobs that run an hour; 0 ends them all at once, a burst).

    python bench/jobs_active.py [--jobs 10000] [--seconds 240] [--sample 100]
                                [--finish estimated|pushed|surprise] [--page-size N]
                                [--no-sweep] [--spread-s 30]

Jobs are inserted already launched (``running``, a provider job in the emulator running with
an end far away that the clock never reaches), started between now and ``--max-age-s`` ago,
each with its next detailed poll spread over its interval as in a steady state, and the sweep
of the operator's credential due at once. Needs PostgreSQL and Redis as the tests do.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import re
import secrets
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulators.testing import EmulatorHandle, running_emulator  # noqa: E402
from providers.base import JobStatus, ProviderJob  # noqa: E402
from service.db import migrations  # noqa: E402
from service.db.database import Database  # noqa: E402
from service.db.models import Job, ProviderSweep  # noqa: E402
from service.db.session import session_scope  # noqa: E402
from service.jobs.lifecycle import pacing  # noqa: E402
from service.jobs.sweeps.compare import progress_of  # noqa: E402
from service.jobs.sweeps.repository import ensure_sweep  # noqa: E402
from service.jobs.transitions import ACTIVE, RUNNING, TERMINAL  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.webhooks.endpoints import create_endpoint  # noqa: E402
from tests.backends import postgres_database  # noqa: E402
from tests.e2e.harness import running_processes  # noqa: E402
from tests.factories import make_tenant  # noqa: E402
from tests.service.jobs.helpers import make_file  # noqa: E402

MODEL = "gpt-4o-mini-2024-07-18"
FAST_TEST_OVERRIDES = (
    "TUNEFORGE_RECONCILE_INTERVAL_S",
    "TUNEFORGE_LEASE_TTL_S",
    "TUNEFORGE_JOB_POLL_MIN_S",
    "TUNEFORGE_JOB_POLL_MAX_S",
)


class Receiver(BaseHTTPRequestHandler):
    """Loopback webhook receiver: notes when each job's terminal event first arrived."""

    arrivals: dict[str, float] = {}  # noqa: RUF012 - one receiver per run

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        job_id = json.loads(body)["data"]["id"]
        Receiver.arrivals.setdefault(job_id, time.time())
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


RUNS_FOR_S = 1e9
"""How long an emulated job runs unless the bench ends it: its estimate is far away."""


async def _post(client: httpx.AsyncClient, url: str, **kwargs: object) -> httpx.Response:
    """POST, again after a dropped keep-alive connection (a loaded box makes them common)."""
    for attempt in range(5):
        try:
            return (await client.post(url, **kwargs)).raise_for_status()  # type: ignore[arg-type]
        except httpx.TransportError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


async def create_provider_jobs(emulator: EmulatorHandle, count: int) -> dict[str, str]:
    """``count`` running provider jobs: id -> their progress as a listing shows it."""
    base = emulator.sdk_base_url
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        uploaded = await client.post(
            f"{base}/files",
            files={"file": ("train.jsonl", b'{"messages": []}\n')},
            data={"purpose": "fine-tune"},
        )
        file_id = uploaded.raise_for_status().json()["id"]
        jobs: dict[str, str] = {}
        for start in range(0, count, 200):
            answers = await asyncio.gather(
                *(
                    _post(
                        client,
                        f"{base}/fine_tuning/jobs",
                        json={"model": MODEL, "training_file": file_id},
                    )
                    for _ in range(min(200, count - start))
                )
            )
            ids = [answer.json()["id"] for answer in answers]
            planned = await asyncio.gather(
                *(
                    _post(
                        client,
                        f"{emulator.base_url}/_emulator/jobs/{job_id}/finish_in",
                        json={"seconds": RUNS_FOR_S},
                    )
                    for job_id in ids
                )
            )
            for job_id, answer in zip(ids, planned, strict=True):
                described = answer.json()["job"]
                jobs[job_id] = progress_of(_listed(described))
        return jobs


def _listed(described: dict[str, object]) -> ProviderJob:
    finish = described.get("estimated_finish")
    return ProviderJob(
        provider="openai",
        id=str(described["id"]),
        status=JobStatus.RUNNING,
        provider_status=str(described["status"]),
        estimated_finish_at=datetime.fromtimestamp(float(finish), UTC)  # type: ignore[arg-type]
        if finish is not None
        else None,
    )


def insert_jobs(
    database: Database,
    settings: Settings,
    tenant_id: str,
    file_id: str,
    provider_jobs: dict[str, str],
    max_age_s: float,
) -> None:
    now = datetime.now(UTC)
    swept = settings.sweep_enabled
    rows = []
    for provider_job_id, progress in provider_jobs.items():
        started = now - timedelta(seconds=random.uniform(0, max_age_s))
        probe = Job(status=RUNNING, started_at=started)
        interval = pacing.poll_interval_s(probe, now, settings, swept=swept)
        rows.append(
            {
                "id": f"ftjob-bench{provider_job_id[-16:]}",
                "tenant_id": tenant_id,
                "provider": "openai",
                "model": MODEL,
                "provider_job_id": provider_job_id,
                "status": RUNNING,
                "provider_status": "running",
                "provider_progress": progress,
                "method": {"type": "supervised"},
                "hyperparameters": {},
                "provider_options": {},
                "training_file_id": file_id,
                "provider_file_ids": {"training_file": "emulated"},
                "user_metadata": {},
                "result_files": [],
                "seed": 1,
                "created_at": started,
                "updated_at": started,
                "started_at": started,
                "next_poll_at": now + timedelta(seconds=random.uniform(0, interval)),
            }
        )
    with session_scope(database.sessions) as session:
        for start in range(0, len(rows), 2000):
            session.execute(insert(Job), rows[start : start + 2000])
        if swept:
            ensure_sweep(session, settings, "openai", None, now)


def worst_overdue_s(database: Database) -> tuple[float, float, float]:
    """(detailed polls' worst overdue, the sweep's overdue, the sweep's interval)."""
    with session_scope(database.sessions) as session:
        oldest = session.scalar(
            select(func.min(Job.next_poll_at)).where(
                Job.status.in_(ACTIVE), Job.next_poll_at.is_not(None)
            )
        )
        sweep = session.execute(
            select(ProviderSweep.next_sweep_at, ProviderSweep.interval_s)
        ).first()
    now = datetime.now(UTC)
    polls = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
    if sweep is None or sweep.next_sweep_at is None:
        return polls, 0.0, 0.0
    return polls, max(0.0, (now - sweep.next_sweep_at).total_seconds()), sweep.interval_s or 0.0


def sweep_rounds(database: Database) -> tuple[int, int, float]:
    """(rounds so far, pages in the last one, its interval)."""
    with session_scope(database.sessions) as session:
        row = session.execute(
            select(ProviderSweep.rounds, ProviderSweep.pages, ProviderSweep.interval_s)
        ).first()
    return (0, 0, 0.0) if row is None else (row.rounds, row.pages, row.interval_s or 0.0)


def finished_at(database: Database, job_ids: list[str]) -> dict[str, float]:
    with session_scope(database.sessions) as session:
        rows = session.execute(
            select(Job.id, Job.finished_at).where(Job.id.in_(job_ids), Job.status.in_(TERMINAL))
        ).all()
    return {str(job_id): at.timestamp() for job_id, at in rows if at is not None}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def describe(name: str, values: list[float], expected: int) -> str:
    if not values:
        return f"{name}: none of {expected} arrived"
    return (
        f"{name}: p50 {percentile(values, 0.5):.1f} s, p99 {percentile(values, 0.99):.1f} s, "
        f"max {max(values):.1f} s ({len(values)} of {expected} arrived)"
    )


def worker_summary(log: str) -> str:
    """What the worker's log says it did: poll tasks run, and what the reconciler re-sent
    (a step re-sent while overdue is a duplicate message unless the first one was lost)."""
    polls = len(re.findall(r"Task tuneforge\.poll_job(?:_now)?\[[^\]]+\] succeeded", log))
    rounds = [
        float(t)
        for t in re.findall(r"Task tuneforge\.sweep_provider\[[^\]]+\] succeeded in ([\d.]+)s", log)
    ]
    sweeps = len(rounds)
    if rounds:
        print(
            f"sweep rounds took {sum(rounds) / len(rounds):.2f} s on average, "
            f"{max(rounds):.2f} s at most"
        )
    ticks = re.findall(r"reconciler: (\d+) job step\(s\) due, (\d+) outbox message", log)
    due = sum(int(a) for a, _ in ticks)
    sent = sum(int(b) for _, b in ticks)
    return (
        f"worker: {polls} poll tasks and {sweeps} sweep rounds finished; "
        f"reconciler: {len(ticks)} busy ticks, {due} due steps re-enqueued, "
        f"{sent} outbox messages re-sent"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=240.0, help="measured window")
    parser.add_argument("--sample", type=int, default=100, help="jobs that end in the window")
    parser.add_argument("--max-age-s", type=float, default=7200.0, help="oldest run's age")
    parser.add_argument("--concurrency", type=int, default=2, help="the worker's processes")
    parser.add_argument(
        "--finish", choices=["estimated", "pushed", "surprise"], default="estimated"
    )
    parser.add_argument(
        "--page-size", type=int, default=None, help="the sweep's list page (default: settings')"
    )
    parser.add_argument("--no-sweep", action="store_true", help="per-job polls, as before")
    parser.add_argument(
        "--spread-s", type=float, default=30.0, help="pushed/surprise ends spread over this"
    )
    args = parser.parse_args()
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    with (
        postgres_database("tf_bench") as url,
        tempfile.TemporaryDirectory() as tmp,
        running_emulator("openai", phase_seconds=1e6) as emulator,
    ):
        settings = Settings(
            environment="test",
            data_dir=Path(tmp),
            database_url=url,
            broker_url="redis://127.0.0.1:6379/0",
            broker_key_prefix=f"tf_bench_{os.getpid()}:",
            webhook_allow_http=True,
            webhook_allow_private=True,
            webhook_allow_any_port=True,
            sweep_enabled=not args.no_sweep,
            sweep_page_size=args.page_size,
            _env_file=None,
        )
        migrations.upgrade(settings)
        database = Database.from_url(url)
        with session_scope(database.sessions) as session:
            tenant = make_tenant(session)
            file_id = make_file(session, settings, tenant).id
            create_endpoint(
                session,
                tenant.id,
                url=f"http://127.0.0.1:{receiver.server_port}/hook",
                settings=settings,
            )
            tenant_id = tenant.id
        started = time.monotonic()
        provider_jobs = asyncio.run(create_provider_jobs(emulator, args.jobs))
        provider_ids = list(provider_jobs)
        insert_jobs(database, settings, tenant_id, file_id, provider_jobs, args.max_age_s)
        print(f"{args.jobs} active jobs set up in {time.monotonic() - started:.1f}s")
        with running_processes(settings, {"openai": emulator}, Path(tmp) / "logs") as processes:
            for name in FAST_TEST_OVERRIDES:
                processes.env.pop(name)  # default poll and reconcile settings
            processes.env["TUNEFORGE_SWEEP_ENABLED"] = str(not args.no_sweep).lower()
            if args.page_size is not None:
                processes.env["TUNEFORGE_SWEEP_PAGE_SIZE"] = str(args.page_size)
            if args.finish == "pushed":
                secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
                processes.env["TUNEFORGE_OPENAI_WEBHOOK_SECRET"] = secret
                api = processes.start_api()
                emulator.subscribe_webhooks(f"{api}/provider_webhooks/openai", secret)
            worker = processes.start_worker(concurrency=args.concurrency)
            try:
                run(args, database, settings, emulator, provider_ids)
            finally:
                processes.stop_all()
                log = "\n".join(
                    path.read_text(errors="replace")
                    for path in sorted((Path(tmp) / "logs").glob("worker-*.log"))
                )
                print(worker_summary(log))
                if worker.returncode not in (0, -15):
                    print(log[-3000:])
                database.engine.dispose()
                receiver.shutdown()


def end_sample(
    args: argparse.Namespace,
    settings: Settings,
    emulator: EmulatorHandle,
    provider_ids: dict[str, str],
) -> dict[str, float]:
    """End the sampled jobs at the provider; when each one ends there (wall-clock time)."""
    if args.finish != "estimated":
        # Unannounced ends at random moments over --spread-s (0: all at once), each timed when
        # the emulator has ended it; the planned moments stand in until then.
        start = time.time()
        ended = {job_id: start + random.uniform(0, args.spread_s) for job_id in provider_ids}

        def end_each() -> None:
            for job_id, at in sorted(ended.items(), key=lambda item: item[1]):
                time.sleep(max(0.0, at - time.time()))
                emulator.advance(provider_ids[job_id])
                ended[job_id] = time.time()

        threading.Thread(target=end_each, daemon=True).start()
        return ended
    # Ends announced a little more than the longest poll interval ahead, so every job has had a
    # routine poll, and so read the estimate, before it ends (as with OpenAI's estimated_finish
    # on a job that runs for minutes or hours).
    now = datetime.now(UTC)
    oldest = Job(status=RUNNING, started_at=now - timedelta(seconds=args.max_age_s))
    lead = pacing.poll_interval_s(oldest, now, settings) + 5
    ends: dict[str, float] = {}
    for job_id, provider_job_id in provider_ids.items():
        seconds = lead + random.uniform(0, 20)
        emulator.finish_in(provider_job_id, seconds)
        ends[job_id] = time.time() + seconds
    return ends


def per_job_hour(
    before: dict[str, int], after: dict[str, int], jobs: int, seconds: float
) -> dict[str, float]:
    hours = seconds / 3600
    return {
        endpoint: (after.get(endpoint, 0) - before.get(endpoint, 0)) / jobs / hours
        for endpoint in sorted(set(after) | set(before))
        if after.get(endpoint, 0) > before.get(endpoint, 0)
    }


def print_calls(label: str, rates: dict[str, float]) -> None:
    print(f"provider calls per job per hour, {label}: {sum(rates.values()):.2f}")
    for endpoint, rate in rates.items():
        print(f"    {endpoint:<48} {rate:.3f}")


def run(
    args: argparse.Namespace,
    database: Database,
    settings: Settings,
    emulator: EmulatorHandle,
    provider_ids: list[str],
) -> None:
    if not args.no_sweep:
        # The window opens once the worker has booted and finished its first round: a worker
        # still starting (seconds on a loaded box) is not one falling behind.
        booting = time.monotonic()
        while sweep_rounds(database)[0] == 0 and time.monotonic() < booting + 300:
            time.sleep(0.2)
        print(f"first sweep round done {time.monotonic() - booting:.1f} s after the worker start")
    window_start = time.monotonic()
    calls_start = emulator.requests_by_endpoint()
    rounds_start = sweep_rounds(database)[0]
    sample = {
        f"ftjob-bench{provider_ids[i][-16:]}": provider_ids[i]
        for i in random.sample(range(len(provider_ids)), min(args.sample, len(provider_ids)))
    }
    ended_at: dict[str, float] = {}
    steady: tuple[float, dict[str, int]] | None = None
    halves = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]  # worst poll lag, sweep lag, sweep interval
    deadline = window_start + args.seconds
    while time.monotonic() < deadline:
        polls, sweep, interval = worst_overdue_s(database)
        half = halves[0 if not ended_at else 1]
        half[0], half[1] = max(half[0], polls), max(half[1], sweep)
        half[2] = max(half[2], interval)
        if not ended_at and time.monotonic() > window_start + args.seconds / 2:
            # Steady state until here: the ends below add their own detailed polls.
            steady = (time.monotonic() - window_start, emulator.requests_by_endpoint())
            ended_at = end_sample(args, settings, emulator, sample)
            # Long enough for the last announced end and its webhook.
            deadline = max(deadline, time.monotonic() + max(ended_at.values()) - time.time() + 30)
        if ended_at and time.time() > max(ended_at.values()):
            done = finished_at(database, list(sample))
            if len(done) == len(sample) and set(Receiver.arrivals) >= set(sample):
                break
        time.sleep(1.0)
    seconds = time.monotonic() - window_start
    calls_end = emulator.requests_by_endpoint()
    done = finished_at(database, list(sample))
    rounds, pages, interval = sweep_rounds(database)
    asked = args.page_size or "the default size"
    mode = "per-job polls" if args.no_sweep else f"sweep, pages of {asked}"
    print(
        f"measured for {seconds:.0f}s with one worker ({args.concurrency} processes), "
        f"{len(provider_ids)} jobs, {mode}, sample ends: {args.finish}"
    )
    if not args.no_sweep:
        print(
            f"sweep: {rounds - rounds_start} rounds ({pages} pages in the last), "
            f"interval now {interval:.1f} s"
        )
    for name, (polls, sweep, worst_interval) in zip(("first", "second"), halves, strict=True):
        print(
            f"worst lag, {name} half: detailed polls {polls:.1f} s"
            + (
                ""
                if args.no_sweep
                else f", sweep {sweep:.1f} s (its interval {worst_interval:.1f} s)"
            )
        )
    if steady is not None:
        print_calls(
            f"steady state ({steady[0]:.0f} s)",
            per_job_hour(calls_start, steady[1], len(provider_ids), steady[0]),
        )
    print_calls("whole window", per_job_hour(calls_start, calls_end, len(provider_ids), seconds))
    print(
        describe(
            "provider-terminal -> our terminal",
            [done[j] - ended_at[j] for j in done],
            len(sample),
        )
    )
    arrived = {j: t for j, t in Receiver.arrivals.items() if j in ended_at}
    print(
        describe(
            "provider-terminal -> webhook delivered",
            [t - ended_at[j] for j, t in arrived.items()],
            len(sample),
        )
    )


if __name__ == "__main__":
    main()

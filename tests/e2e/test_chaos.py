"""Chaos against live processes: killed workers, lost broker messages, provider rate-limit
storms and 5xx, a restarted API. No job is lost, none is started twice at the provider, and
none fails for a transient fault."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from emulators.testing import EmulatorHandle
from service.db.database import Database
from service.settings import Settings
from tests.e2e import chaos
from tests.e2e.harness import Processes, wait_for
from tests.service.jobs.helpers import chat_lines, jsonl

KILLS = 20


@pytest.mark.integration
def test_sigkill_during_launch_never_doubles_or_loses_a_job(
    processes: Processes,
    emulators: dict[str, EmulatorHandle],
    committed_db: Database,
    api_key: str,
) -> None:
    emulator = emulators["openai"]
    # Slow creates widen the window in which a kill lands mid-launch; a few dropped answers
    # make creates ambiguous (the job exists, the worker never heard).
    emulator.inject(kind="slow", method="POST", path="/fine_tuning/jobs$", seconds=0.6, count=-1)
    emulator.inject(kind="drop_after", method="POST", path="/fine_tuning/jobs$", count=3)
    base = processes.start_api()
    file_id = chaos.upload(base, api_key, jsonl(chat_lines()))
    ids = chaos.create_jobs(base, api_key, file_id, KILLS)
    kills = 0
    seen: set[str] = set()
    worker = processes.start_worker(beat=True, concurrency=2)
    deadline = time.monotonic() + 150
    while kills < KILLS and time.monotonic() < deadline:
        try:
            wait_for(
                lambda: bool(chaos.launch_leases(committed_db, ids) - seen),
                20,
                "a new launch in progress",
                0.05,
            )
        except AssertionError:
            break  # every job already launched
        owner = sorted(chaos.launch_leases(committed_db, ids) - seen)[0]
        seen.add(owner)
        time.sleep(chaos.jitter(0.0, 0.5))
        if kills % 5 == 4:
            # The whole worker (main process, pool and beat), then a fresh one.
            processes.kill(worker)
            worker = processes.start_worker(beat=True, concurrency=2)
        else:
            # Only the pool process running this launch (its pid is in the lease owner).
            chaos.kill_pid(int(owner.split(":")[1]))
        kills += 1
    assert kills >= KILLS or all(job.provider_job_id for job in chaos.jobs(committed_db, ids))
    emulator.clear_faults()
    try:
        wait_for(lambda: chaos.all_terminal(committed_db, ids), 120, "every job to finish")
    finally:
        final = chaos.statuses(committed_db, ids)
    assert Counter(final.values()) == {"succeeded": len(ids)}, processes.logs()
    tags = chaos.emulator_tags(emulator.jobs())
    assert sorted(tags) == sorted(ids), "one provider job per job, never two"
    provider_ids = [job.provider_job_id for job in chaos.jobs(committed_db, ids)]
    assert len(set(provider_ids)) == len(ids)
    print(f"killed the worker {kills} times during launches")


@pytest.mark.integration
def test_lost_broker_messages_and_provider_storms_only_delay_jobs(
    processes: Processes,
    emulators: dict[str, EmulatorHandle],
    committed_db: Database,
    settings: Settings,
    api_key: str,
) -> None:
    emulator = emulators["openai"]
    emulator.inject(kind="status", status=429, retry_after=0.2, path="/fine_tuning/jobs", count=25)
    emulator.inject(kind="status", status=503, path="/fine_tuning/jobs/.+", count=15)
    emulator.inject(kind="status", status=500, method="POST", path="/files", count=2)
    base = processes.start_api()
    file_id = chaos.upload(base, api_key, jsonl(chat_lines()))
    ids = chaos.create_jobs(base, api_key, file_id, 6)
    worker = processes.start_worker()
    wait_for(lambda: any(j.provider_job_id for j in chaos.jobs(committed_db, ids)), 60, "a launch")
    chaos.lose_broker_messages(settings)  # mid-flight, with the worker running
    processes.kill(worker)
    chaos.lose_broker_messages(settings)  # and whatever the dead worker had not acked
    # The API restarts while jobs are being polled; clients and jobs carry on.
    processes.kill(processes.api)
    base = processes.start_api()
    processes.start_worker()
    try:
        wait_for(lambda: chaos.all_terminal(committed_db, ids), 120, "every job to finish")
    finally:
        final = chaos.statuses(committed_db, ids)
    assert Counter(final.values()) == {"succeeded": len(ids)}, processes.logs()
    assert sorted(chaos.emulator_tags(emulator.jobs())) == sorted(ids)
    late = chaos.create_jobs(base, api_key, file_id, 1)
    wait_for(lambda: chaos.all_terminal(committed_db, late), 60, "a job after the restart")

"""Helpers for the chaos tests: create jobs over HTTP, read their rows, lose broker messages."""

from __future__ import annotations

import contextlib
import os
import random
import signal
from typing import Any

import httpx
import redis
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from service.db.database import Database
from service.db.models import Job
from service.settings import Settings

MODEL = "gpt-4o-mini-2024-07-18"


def upload(base: str, key: str, content: bytes) -> str:
    response = httpx.post(
        f"{base}/v1/files",
        headers={"Authorization": f"Bearer {key}"},
        files={"file": ("train.jsonl", content)},
        data={"purpose": "fine-tune"},
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["id"])


def create_jobs(base: str, key: str, file_id: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        response = httpx.post(
            f"{base}/v1/fine_tuning/jobs",
            headers={"Authorization": f"Bearer {key}"},
            json={"model": MODEL, "training_file": file_id},
            timeout=30,
        )
        response.raise_for_status()
        ids.append(str(response.json()["id"]))
    return ids


def jobs(database: Database, ids: list[str]) -> list[Job]:
    with Session(database.engine) as session:
        return list(session.scalars(select(Job).where(Job.id.in_(ids))))


def statuses(database: Database, ids: list[str]) -> dict[str, str]:
    return {job.id: job.status for job in jobs(database, ids)}


def all_terminal(database: Database, ids: list[str]) -> bool:
    return all(s in ("succeeded", "failed", "cancelled") for s in statuses(database, ids).values())


def launch_leases(database: Database, ids: list[str]) -> set[str]:
    """Owners of the leases held on jobs without a provider job: launches in progress (or
    left behind by a killed worker, until they expire)."""
    return {
        job.lease_owner
        for job in jobs(database, ids)
        if job.lease_owner is not None and job.provider_job_id is None
    }


def lose_broker_messages(settings: Settings) -> int:
    """Every message the broker holds for this test run, gone (our key prefix only: other
    people's runs share this Redis)."""
    if settings.broker_url.startswith("redis"):
        client = redis.Redis.from_url(settings.broker_url)
        keys = list(client.scan_iter(match=f"{settings.broker_key_prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
        return len(keys)
    engine = create_engine(settings.broker_url.removeprefix("sqla+"))
    with engine.begin() as conn:
        result = conn.execute(text("DELETE FROM kombu_message"))
    engine.dispose()
    return int(getattr(result, "rowcount", 0) or 0)


def emulator_tags(jobs_listed: list[dict[str, Any]]) -> list[str]:
    return [str((j["body"].get("metadata") or {}).get("tuneforge_tag")) for j in jobs_listed]


def jitter(low: float, high: float) -> float:
    return random.uniform(low, high)


def kill_pid(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it may have finished on its own
        os.kill(pid, signal.SIGKILL)

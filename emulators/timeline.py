"""A provider-neutral history of an emulated job, which each emulator renders in its own shapes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from emulators.core import RUNNING_PHASE, EmulatedJob, EmulatorState

EntryKind = Literal[
    "created",
    "validated",
    "started",
    "step",
    "checkpoint",
    "succeeded",
    "failed",
    "cancel_requested",
    "cancelled",
]


@dataclass(frozen=True)
class Entry:
    kind: EntryKind
    at: float
    step: int = 0


def checkpoint_steps(total_steps: int) -> list[int]:
    every = max(total_steps // 3, 1)
    return [s for s in range(every, total_steps + 1, every)]


def timeline(state: EmulatorState, job: EmulatedJob) -> list[Entry]:
    progress = state.progress(job)
    entries = [Entry("created", job.created_at)]
    if progress.phase >= 1 or progress.outcome != "active":
        entries.append(Entry("validated", state.entered_at(job, 1)))
    if progress.phase >= RUNNING_PHASE:
        entries.append(Entry("started", state.entered_at(job, RUNNING_PHASE)))
    ckpts = set(checkpoint_steps(progress.total_steps))
    for step in range(1, progress.step + 1):
        when = state.step_time(job, step)
        entries.append(Entry("step", when, step))
        if step in ckpts and not (progress.outcome == "failed" and step == progress.step):
            entries.append(Entry("checkpoint", when, step))
    if progress.outcome in ("cancelling", "cancelled"):
        end = state.cancelled_time(job)
        entries.append(Entry("cancel_requested", end, progress.step))
        if progress.outcome == "cancelled":
            entries.append(Entry("cancelled", end, progress.step))
    elif progress.outcome in ("succeeded", "failed"):
        entries.append(Entry(progress.outcome, state.entered_at(job, state.phases), progress.step))
    return entries

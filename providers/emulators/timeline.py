"""A provider-neutral history of an emulated job, which each emulator renders in its own shapes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from providers.emulators.core import EmulatedJob, EmulatorState

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
    seconds = state.phase_seconds

    def at(phase: int) -> float:
        return job.created_at + phase * seconds

    entries = [Entry("created", at(0))]
    if progress.phase >= 1 or progress.outcome != "active":
        entries.append(Entry("validated", at(1)))
    if progress.phase >= 2:
        entries.append(Entry("started", at(2)))
    ckpts = set(checkpoint_steps(progress.total_steps))
    for step in range(1, progress.step + 1):
        when = at(2) + step * seconds / max(progress.total_steps, 1)
        entries.append(Entry("step", when, step))
        if step in ckpts and not (progress.outcome == "failed" and step == progress.step):
            entries.append(Entry("checkpoint", when, step))
    end = at(progress.phase)
    if progress.outcome in ("cancelling", "cancelled"):
        entries.append(Entry("cancel_requested", end, progress.step))
        if progress.outcome == "cancelled":
            entries.append(Entry("cancelled", end, progress.step))
    elif progress.outcome in ("succeeded", "failed"):
        entries.append(Entry(progress.outcome, end, progress.step))
    return entries

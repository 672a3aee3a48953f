"""Every kind of long-running work the engine runs (``service.lifecycle``): the reconciler
sweeps them all, and the dispatcher routes and prioritises their tasks. A new kind is added
here once, beside its tasks."""

from __future__ import annotations

from service.evals.runs.kind import EVAL_RUN
from service.jobs.lifecycle.kind import JOB
from service.jobs.sweeps.kind import SWEEP
from service.lifecycle.kind import Kind
from service.studies.kind import STUDY

KINDS: tuple[Kind, ...] = (JOB, EVAL_RUN, STUDY, SWEEP)

GPU_TASKS = frozenset(task for kind in KINDS for task in kind.gpu_tasks)
BULK_TASKS = frozenset(task for kind in KINDS for task in kind.bulk_tasks)

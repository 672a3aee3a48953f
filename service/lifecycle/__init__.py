"""The lifecycle engine: one runner for every kind of long-running, durable, cancellable work
(jobs today; eval runs and studies next).

Modules: ``kind`` (what a kind declares; step outcomes), ``runner`` (``run_step``: the one
claim → act → re-lock → apply block), ``leases``, ``schedule`` (due time, outbox rows, dedupe
and rescue keys), ``reconcile`` (the sweep over every kind), ``pacing`` (backoff), ``progress``
(the one writer of events, metrics and checkpoints).

Declaring a kind (see ``service.jobs.lifecycle.kind`` for the job)::

    class RunStatus(StrEnum):
        QUEUED = "queued"; IN_PROGRESS = "in_progress"; COMPLETED = "completed"
        FAILED = "failed"; CANCELED = "canceled"

    EVAL_RUN = Kind(
        name="eval_run",
        model=EvalRun,              # a table with id, tenant_id, status, lease_owner,
                                    # lease_expires_at, heartbeat_at and a due column
        statuses=RunStatus,
        terminal=frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED}),
        next_task=lambda run: "tuneforge.eval_run_step",
        fail=fail_run,              # ends the row FAILED through the kind's transition function
        classify=classify,          # exception -> StepRetry | StepFailed | None (unexpected)
        due_column="next_step_at",
        bulk_tasks=frozenset(),     # routine tasks sent last; gpu_tasks: gpu queue only
    )

A step is a small class with ``task``, ``heartbeat``, ``wanted(row)``, ``begin(ctx, session,
row)`` (locked; returns a plan or None), ``act(ctx, plan)`` (the side effect, no transaction
open; raises ``StepRetry``/``StepFailed``/``StepAbandoned`` or anything the kind classifies),
``finish(ctx, session, row, result)`` (re-locked: apply through the transition function, then
``schedule.schedule(...)`` the next step) and ``on_retry`` (count the failure). The task body
is one line: ``run_step(EVAL_RUN, RunItemsStep(...), sessions, settings, run_id)``. Add the kind
to ``workers/kinds.py`` so the reconciler sweeps it and its tasks are routed. Progress (events,
metrics, checkpoints) goes through ``progress.ProgressWriter``. Nothing here imports Celery.
"""

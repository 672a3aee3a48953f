"""Sweeps: one paged list call per provider credential watches many jobs at once.

A sweep is a kind on the lifecycle engine (``kind``): one row per provider credential (the
operator's key, or a tenant's own), leased, scheduled and re-sent by the reconciler like any
other step, so a worker that dies mid-sweep only delays it. Each round (``step``) lists the
provider's jobs newest first until every active job of ours on that credential has been seen,
compares each with our row (``compare``: status, then progress counters and estimates) and
brings forward the detailed poll (job, events, checkpoints) of only those that changed: at
once and ahead of routine work for a status change, within the job's usual interval for
progress. Jobs seen unchanged cost nothing more; their detailed poll runs on the slower
``sweep_detail_interval_s`` cadence (``service.jobs.lifecycle.pacing``). The cadence of the
rounds (``pacing``) follows the number of active jobs, the page size and the provider's rate
limit; a 429 backs the sweep off without touching any job.

Providers whose adapter does not list (``ProviderAdapter.lists_jobs``: Mistral, Vertex) keep
their per-job polls."""

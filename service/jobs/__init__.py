"""Jobs: the state machine, the OpenAI-compatible API, and the orchestration steps (launch,
poll, cancel, reconcile) that the Celery tasks in ``workers`` call."""

"""Operations: Prometheus metrics (``metrics``, ``http``) and structured logs (``logs``)."""

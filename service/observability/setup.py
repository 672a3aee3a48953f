"""The one call every tuneforge process makes at start: logs and metrics as configured."""

from __future__ import annotations

from service.observability.logs import configure_logging
from service.observability.metrics import configure_metrics
from service.settings import Settings


def configure_process(settings: Settings) -> None:
    configure_logging(settings)
    configure_metrics(settings)

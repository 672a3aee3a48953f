"""Chart data as the page embeds it (a ``data-series`` JSON attribute that the browser script
draws and tests read): metric curves of one job, and spend per month."""

from __future__ import annotations

from typing import Any

from service.dashboard.spend_queries import SpendTable


def job_charts(series: dict[str, list[tuple[int, float]]]) -> list[dict[str, Any]]:
    """One chart for losses and one for accuracies (train and validation together); any other
    metric the provider reported (learning rate, tokens/s) is left to the metrics table."""
    groups = (("loss", "Loss", "loss"), ("accuracy", "Token accuracy", "accuracy"))
    charts = []
    for chart_id, title, word in groups:
        picked = {
            name: [[step, value] for step, value in points]
            for name, points in sorted(series.items())
            if word in name
        }
        charts.append({"id": chart_id, "title": title, "kind": "line", "series": picked})
    return charts


def spend_chart(table: SpendTable) -> dict[str, Any]:
    """Stacked bars: one bar per month, one segment per key of ``table`` (amounts as floats,
    for drawing only; the table beside it shows the exact amounts)."""
    return {
        "id": f"spend-{table.dimension}",
        "title": f"Spend per month by {table.dimension}",
        "kind": "bar",
        "labels": table.months,
        "series": {
            key: [float(row.get(month, 0)) for month in table.months]
            for key, row in sorted(table.cells.items())
        },
    }

"""The catalog's serving prices and lifecycle dates: every tunable model has its base model's
input/output price with a source and date, OpenAI is closing on 2027-01-06, fine-tunes that
serve only on dedicated deployments say so with an hourly rate, and overrides reach them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from providers.catalog import BUILTIN, available_models, find_model, get_catalog, local_model
from providers.inference_prices import OPENAI_JOBS_END, local_per_million

FIREWORKS_8B = "accounts/fireworks/models/llama-v3p1-8b-instruct"


def test_every_model_that_takes_jobs_has_serving_prices_with_source_and_date() -> None:
    for info in BUILTIN:
        if info.lifecycle == "retired":
            continue
        assert info.base_input_price is not None and info.base_output_price is not None, info
        assert info.inference_input_price is not None, info
        assert info.inference_price_source and info.inference_price_date is not None, info


def test_openai_is_closing_on_2027_01_06_and_its_fine_tunes_cost_twice_the_base() -> None:
    info = find_model("openai", "gpt-4.1-mini-2025-04-14")
    assert info is not None
    assert (info.lifecycle, info.lifecycle_date, info.jobs_end) == (
        "closing",
        date(2027, 1, 6),
        OPENAI_JOBS_END,
    )
    assert (info.base_input_price, info.base_output_price) == (Decimal("0.40"), Decimal("1.60"))
    assert (info.inference_input_price, info.inference_output_price) == (
        Decimal("0.80"),
        Decimal("3.20"),
    )
    assert (info.base_cached_input_price, info.inference_cached_input_price) == (
        Decimal("0.10"),
        Decimal("0.20"),
    )
    assert info.takes_jobs_on(date(2027, 1, 6)) and not info.takes_jobs_on(date(2027, 1, 7))
    assert all(m.provider != "openai" for m in available_models(today=date(2027, 1, 7)))
    assert any(m.provider == "openai" for m in available_models(today=date(2026, 12, 1)))


def test_fireworks_fine_tunes_serve_on_a_dedicated_deployment_by_the_hour() -> None:
    info = find_model("fireworks", FIREWORKS_8B)
    assert info is not None
    assert info.serving == "dedicated" and info.hosting_per_hour == Decimal("3.89")
    assert info.inference_input_price == 0 and info.base_input_price == Decimal("0.20")


def test_vertex_tuned_models_serve_at_the_base_rate_until_the_base_retires() -> None:
    info = find_model("vertex", "gemini-2.5-flash")
    assert info is not None
    assert info.base_input_price == info.inference_input_price == Decimal("0.30")
    assert info.retirement_date == info.lifecycle_date


def test_overrides_reach_serving_prices_and_dates() -> None:
    catalog = get_catalog(
        {
            "fireworks": {
                FIREWORKS_8B: {"hosting_per_hour": "2.5", "serving": "serverless"},
            },
            "openai": {
                "gpt-4o-mini-2024-07-18": {
                    "base_cached_input_price": "0.075",
                    "jobs_end": "2027-03-01",
                    "retirement_date": "2027-06-30",
                }
            },
        }
    )
    fireworks = find_model("fireworks", FIREWORKS_8B, catalog)
    openai = find_model("openai", "gpt-4o-mini-2024-07-18", catalog)
    assert fireworks is not None and openai is not None
    assert fireworks.hosting_per_hour == Decimal("2.5") and fireworks.serving == "serverless"
    assert openai.base_cached_input_price == Decimal("0.075")
    assert openai.jobs_end == date(2027, 3, 1) and openai.retirement_date == date(2027, 6, 30)
    assert openai.takes_jobs_on(date(2027, 2, 1))


def test_local_inference_is_the_hourly_rate_over_measured_tokens_per_second() -> None:
    # $2/h at 500 tokens/s: 1.8M tokens an hour, so 1M tokens cost 2 / 1.8 = $1.111…
    per_million = local_per_million(Decimal("2"), Decimal("500"))
    assert per_million.quantize(Decimal("0.0001")) == Decimal("1.1111")
    info = local_model("tiny", gpu_hour_price=Decimal("2"), serve_per_million=per_million)
    assert info.base_output_price == info.inference_input_price == per_million
    with pytest.raises(ValueError):
        local_per_million(Decimal("2"), Decimal(0))

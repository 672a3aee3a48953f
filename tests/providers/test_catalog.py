from __future__ import annotations

from decimal import Decimal

import pytest

from providers.catalog import (
    available_models,
    find_model,
    get_catalog,
    local_model,
    resolve_provider,
)


@pytest.mark.parametrize(
    ("model", "provider", "expected"),
    [
        ("gpt-4o-mini-2024-07-18", None, ("openai", "gpt-4o-mini-2024-07-18")),
        ("together/meta-llama/Llama-3-8b", None, ("together", "meta-llama/Llama-3-8b")),
        (
            "fireworks/accounts/fireworks/models/x",
            None,
            ("fireworks", "accounts/fireworks/models/x"),
        ),
        ("mistral/open-mistral-7b", None, ("mistral", "open-mistral-7b")),
        ("local/tiny-llama", None, ("local", "tiny-llama")),
        ("meta-llama/Llama-3-8b", "together", ("together", "meta-llama/Llama-3-8b")),
        ("together/meta-llama/Llama-3-8b", "together", ("together", "meta-llama/Llama-3-8b")),
    ],
)
def test_resolve_provider(model: str, provider: str | None, expected: tuple[str, str]) -> None:
    assert resolve_provider(model, provider) == expected


def test_mistral_is_retired_and_not_a_candidate() -> None:
    info = find_model("mistral", "open-mistral-7b")
    assert info is not None and info.lifecycle == "retired" and info.lifecycle_date is not None
    assert all(m.provider != "mistral" for m in available_models())


def test_overrides_replace_prices_and_lifecycle() -> None:
    catalog = get_catalog(
        {
            "openai": {
                "gpt-4o-2024-08-06": {
                    "price_per_million": "20",
                    "lifecycle": "closing",
                    "lifecycle_date": "2027-01-01",
                }
            }
        }
    )
    info = find_model("openai", "gpt-4o-2024-08-06", catalog)
    assert info is not None
    assert info.price == Decimal("20") and info.lifecycle == "closing" and info.is_available
    assert find_model("openai", "gpt-4o-2024-08-06").price == Decimal("25.00")  # type: ignore[union-attr]


def test_local_models_are_priced_per_gpu_hour_and_filter_by_method() -> None:
    catalog = get_catalog(extra=[local_model("tiny-llama", gpu_hour_price=Decimal("1.2"))])
    info = find_model("local", "tiny-llama", catalog)
    assert info is not None and info.price_basis == "gpu-hour"
    dpo = available_models(catalog, method="dpo")
    assert dpo and all("dpo" in m.methods for m in dpo)
    assert info in dpo  # the local trainer runs DPO too

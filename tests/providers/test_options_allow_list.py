"""provider_options can add only what each provider's allow-list names, and never replace an
argument the adapter sets: a forged model, another account's file, our tag or the SDK's
transport controls are refused before any request leaves, on every adapter."""

from __future__ import annotations

import pytest

from providers.errors import ProviderPermanentError
from providers.options import InvalidOptions, parse_options
from tests.providers.conftest import Harness
from tests.providers.test_contract import spec_for

FORGED = [
    {"model": "gpt-4o-2024-08-06"},
    {"training_file": "file-of-another-tenant"},
    {"metadata": {"tuneforge_tag": "forged"}},
    {"suffix": "x"},
    {"extra_body": {"model": "gpt-4o-2024-08-06"}},
    {"extra_headers": {"OpenAI-Project": "proj_other"}},
    {"timeout": 1},
]


@pytest.mark.parametrize("options", FORGED, ids=lambda o: next(iter(o)))
def test_a_forged_option_never_reaches_the_provider(
    harness: Harness, options: dict[str, object]
) -> None:
    adapter = harness.adapter
    file_id = adapter.upload_dataset(harness.dataset, "train.jsonl")
    before = harness.emulator.request_count()
    with pytest.raises(ProviderPermanentError) as caught:
        adapter.create_job(spec_for(harness, file_id, options=options))
    assert caught.value.param == f"provider_options.{next(iter(options))}"
    assert harness.emulator.request_count() == before


def test_allowed_options_are_typed_and_bounded() -> None:
    assert parse_options("together", {"warmup_ratio": 0, "n_checkpoints": 3}) == {
        "warmup_ratio": 0.0,
        "n_checkpoints": 3,
    }
    for bad in ({"warmup_ratio": 2}, {"n_checkpoints": True}, {"max_grad_norm": float("inf")}):
        with pytest.raises(ValueError):
            parse_options("together", bad)


def test_a_bad_union_option_is_named_by_its_key_alone() -> None:
    """``train_on_inputs`` is ``bool | "auto"``: pydantic's location adds the union member
    (``train_on_inputs.bool``), which is no option of the provider's."""
    with pytest.raises(InvalidOptions) as caught:
        parse_options("together", {"train_on_inputs": "sometimes"})
    assert caught.value.key == "train_on_inputs"

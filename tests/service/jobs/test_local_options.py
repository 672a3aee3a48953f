"""A local job's fields → the local trainer's configuration, and its options checked at create."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_gpu import TrainingConfig
from service.errors import InvalidRequest
from service.jobs.api.local_options import BASE_LEARNING_RATE, parse_local_options, training_config


def _config(
    hyperparameters: dict[str, object], options: dict[str, object], method: str = "supervised"
) -> TrainingConfig:
    return training_config(
        method="dpo" if method == "dpo" else "supervised",
        model_dir=Path("/models/tiny"),
        train_file=Path("/data/train.jsonl"),
        validation_file=None,
        output_dir=Path("/artifacts/job"),
        hyperparameters=hyperparameters,
        options=options,
        seed=7,
    )


def test_auto_hyperparameters_take_the_trainer_defaults() -> None:
    config = _config({"n_epochs": "auto", "batch_size": "auto"}, {})
    assert config.epochs == 1
    assert config.learning_rate == BASE_LEARNING_RATE
    assert config.quantization == "nf4" and config.resume is True
    assert config.seed == 7


def test_job_fields_and_options_map_onto_the_trainer() -> None:
    config = _config(
        {"n_epochs": 3, "batch_size": 2, "learning_rate_multiplier": 0.5},
        {"lora_rank": 8, "lora_alpha": 16, "quantization": "none", "checkpoint_every": 7},
    )
    assert config.epochs == 3 and config.rows_per_batch == 2
    assert config.learning_rate == pytest.approx(BASE_LEARNING_RATE * 0.5)
    lora = config.lora
    assert (lora.rank, lora.alpha) == (8, 16)
    assert config.quantization == "none"
    assert config.checkpoint_every == 7


def test_dpo_beta_and_early_stopping_reach_the_trainer() -> None:
    config = _config(
        {"n_epochs": 2, "beta": 0.3},
        {"early_stopping_patience": 3, "early_stopping_min_delta": 0.01, "eval_every": 5},
        method="dpo",
    )
    assert config.method == "dpo" and config.dpo_beta == pytest.approx(0.3)
    assert config.early_stopping_patience == 3
    assert config.early_stopping_min_delta == pytest.approx(0.01)
    assert config.eval_every == 5
    assert _config({"beta": "auto"}, {}, method="dpo").dpo_beta == TrainingConfig.dpo_beta


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"training_type": "full"}, "provider_options.training_type"),
        ({"quantization": "int3"}, "provider_options.quantization"),
        ({"lora_rank": 0}, "provider_options.lora_rank"),
        ({"no_such_option": 1}, "provider_options.no_such_option"),
        ({"early_stopping_patience": 0}, "provider_options.early_stopping_patience"),
        ({"early_stopping_min_delta": -1}, "provider_options.early_stopping_min_delta"),
    ],
)
def test_bad_local_options_are_a_400_naming_the_field(
    options: dict[str, object], param: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_local_options(options)
    assert raised.value.param == param

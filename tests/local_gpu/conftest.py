from __future__ import annotations

from pathlib import Path

import pytest

from local_gpu import go_offline
from local_gpu.tiny import build_demo_model, synthetic_conversations, write_jsonl

go_offline()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tiny-model")
    return build_demo_model(directory)


@pytest.fixture(scope="session")
def small_chat_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    return write_jsonl(path, synthetic_conversations(24, seed=7))

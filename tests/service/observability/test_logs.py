"""``configure_logging``: JSON lines carrying the bound job id, or readable text."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from service.observability.logs import bind_job_id, configure_logging, current_job_id
from service.settings import Settings


@pytest.fixture()
def restore_root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _settings(tmp_path: Path, log_format: Literal["json", "text"]) -> Settings:
    return Settings(data_dir=tmp_path, log_format=log_format, _env_file=None)


def test_json_lines_carry_the_bound_job_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_root_logging: None
) -> None:
    configure_logging(_settings(tmp_path, "json"))
    log = logging.getLogger("tuneforge.test")
    with bind_job_id("ftjob-abc"):
        assert current_job_id() == "ftjob-abc"
        log.info("polled %s", "together", extra={"provider_status": "RUNNING"})
    log.warning("outside")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["message"] == "polled together"
    assert lines[0]["job_id"] == "ftjob-abc"
    assert lines[0]["provider_status"] == "RUNNING"
    assert lines[0]["level"] == "info"
    assert lines[0]["logger"] == "tuneforge.test"
    assert "job_id" not in lines[1]
    assert "RuntimeError: boom" in lines[2]["exception"]
    assert current_job_id() is None


def test_text_format_appends_the_job_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_root_logging: None
) -> None:
    configure_logging(_settings(tmp_path, "text"))
    with bind_job_id("ftjob-xyz"):
        logging.getLogger("tuneforge.test").info("launched")
    line = capsys.readouterr().err.strip()
    assert line.endswith("tuneforge.test: launched [job_id=ftjob-xyz]")

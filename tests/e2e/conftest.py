"""Fixtures for end-to-end tests: emulators, live processes, a tenant with an API key."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.testing import EmulatorHandle, running_emulator
from service.db.database import Database
from service.db.session import session_scope
from service.settings import Settings
from tests.e2e.harness import Processes, running_processes
from tests.factories import make_key, make_tenant


@pytest.fixture()
def emulators() -> Iterator[dict[str, EmulatorHandle]]:
    with (
        running_emulator("openai", phase_seconds=0.25) as openai_emu,
        running_emulator("together", phase_seconds=0.25) as together_emu,
    ):
        yield {"openai": openai_emu, "together": together_emu}


@pytest.fixture()
def api_key(committed_db: Database) -> str:
    with session_scope(committed_db.sessions) as session:
        return make_key(session, make_tenant(session))


@pytest.fixture()
def processes(
    settings: Settings,
    committed_db: Database,
    emulators: dict[str, EmulatorHandle],
    tmp_path: Path,
) -> Iterator[Processes]:
    with running_processes(settings, emulators, tmp_path / "logs") as procs:
        yield procs


@pytest.fixture()
def training_path(tmp_path: Path) -> Path:
    from tests.service.jobs.helpers import chat_lines, jsonl

    path = tmp_path / "train.jsonl"
    path.write_bytes(jsonl(chat_lines(12)))
    return path

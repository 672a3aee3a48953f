"""The image's roles map to CLI commands that exist with the options given."""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.deploy.manifests import ENTRYPOINT, IMAGE_ROLES
from tuneforge_cli.main import app


def _argv_for(role: str, tmp_path: Path, *extra: str) -> list[str]:
    """Run the real entrypoint script with a `tuneforge` on PATH that records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    recorder = bin_dir / "tuneforge"
    record = tmp_path / f"{role}.argv"
    recorder.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done > {record}\n')
    recorder.chmod(recorder.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["sh", str(ENTRYPOINT), role, *extra], env=env, check=True, timeout=10)
    return record.read_text().splitlines()


@pytest.mark.parametrize("role", IMAGE_ROLES)
def test_each_role_runs_an_existing_command(role: str, tmp_path: Path) -> None:
    argv = _argv_for(role, tmp_path)
    expected_command = "worker" if role in ("gpu-worker", "webhook-worker") else role
    assert argv[0] == expected_command
    result = CliRunner().invoke(app, [*argv, "--help"])
    assert result.exit_code == 0, f"tuneforge {shlex.join(argv)}: {result.output}"


def test_worker_roles_pick_their_queues(tmp_path: Path) -> None:
    assert _argv_for("worker", tmp_path) == ["worker", "--queues", "default"]
    assert _argv_for("webhook-worker", tmp_path) == ["worker", "--queues", "webhooks"]
    assert _argv_for("gpu-worker", tmp_path) == [
        "worker",
        "--queues",
        "gpu",
        "--concurrency",
        "1",
    ]


def test_extra_arguments_are_passed_on(tmp_path: Path) -> None:
    argv = _argv_for("worker", tmp_path, "--concurrency", "4")
    assert argv == ["worker", "--queues", "default", "--concurrency", "4"]
    assert CliRunner().invoke(app, [*argv, "--help"]).exit_code == 0


def test_the_cli_check_rejects_an_unknown_option() -> None:
    result = CliRunner().invoke(app, ["worker", "--no-such-option", "--help"])
    assert result.exit_code != 0


def test_entrypoint_is_valid_sh() -> None:
    subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=True, timeout=10)

"""``tuneforge serve`` (embedded default) runs two workers (webhook deliveries apart from launches
and polls); stopped with SIGTERM, as docker and systemd stop it, it stops both and every process
under them: none is left running with the old settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.live import free_port

REPO = Path(__file__).resolve().parents[2]


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (found := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = found[1]
    tree, grew = {root}, True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return tree - {root}


def _parent(pid: int) -> int | None:
    found = _stat(pid)
    return found[1] if found else None


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _alive(pid: int) -> bool:
    found = _stat(pid)
    return found is not None and found[0] != "Z"


def _wait_until(condition: object, seconds: float) -> bool:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return bool(condition())


@pytest.fixture()
def serve(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, set[int]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNEFORGE_")}
    port = free_port()
    env |= {
        "TUNEFORGE_DATA_DIR": str(tmp_path / "data"),
        "TUNEFORGE_PORT": str(port),
        "TUNEFORGE_HOST": "127.0.0.1",
        "TUNEFORGE_ENVIRONMENT": "development",
    }
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tuneforge_cli.main", "serve"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    seen: set[int] = set()  # the test records the processes it saw under serve
    try:
        yield process, f"http://127.0.0.1:{port}", seen
    finally:
        leftovers = seen | _descendants(process.pid)
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in leftovers:  # never leave a test's processes behind, whatever happened
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_sigterm_stops_serve_and_its_worker(
    serve: tuple[subprocess.Popen[bytes], str, set[int]], tmp_path: Path
) -> None:
    process, base, seen = serve
    assert _wait_until(lambda: _healthy(base), 120), (tmp_path / "serve.log").read_text()
    # the worker children and their pool processes (a worker forks them once it is up)
    assert _wait_until(lambda: len(_descendants(process.pid)) >= 4, 120)
    workers = _descendants(process.pid)
    seen |= workers
    # two workers: webhook deliveries on their own, so a slow receiver never holds a launch
    queues = sorted(
        _cmdline(pid).split("--queues ", 1)[1].split()[0]
        for pid in workers
        if _parent(pid) == process.pid
    )
    assert queues == ["default,gpu", "webhooks"]

    process.send_signal(signal.SIGTERM)
    process.wait(timeout=120)

    assert _wait_until(lambda: not any(_alive(pid) for pid in workers), 30), sorted(
        pid for pid in workers if _alive(pid)
    )

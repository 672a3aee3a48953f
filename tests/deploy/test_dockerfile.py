"""The Dockerfile, read as text (no engine here to build it): stages, user, health, no secrets."""

from __future__ import annotations

import re

from tests.deploy.manifests import DOCKERFILE, ROOT


def _stages() -> dict[str, str]:
    """Stage name -> its instructions."""
    parts = re.split(r"^FROM\s+\S+\s+AS\s+(\S+)\s*$", DOCKERFILE.read_text(), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_runtime_is_the_default_target_and_gpu_is_a_second_one() -> None:
    stages = _stages()
    assert list(stages)[-1] == "runtime"
    assert {"base", "build", "build-gpu", "gpu", "runtime"} <= set(stages)
    assert "FROM ${PYTHON_IMAGE} AS base" in DOCKERFILE.read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE.read_text()


def test_final_stages_run_as_a_non_root_user_with_a_healthcheck() -> None:
    stages = _stages()
    for name in ("runtime", "gpu"):
        assert re.search(r"^USER tuneforge$", stages[name], flags=re.M), name
        assert "HEALTHCHECK" in stages[name]
        assert "COPY --from=build" in stages[name]
    assert 'ENTRYPOINT ["tini", "--", "tuneforge-entrypoint"]' in stages["runtime-common"]


def test_gpu_build_pins_torch_before_the_local_extra() -> None:
    gpu = _stages()["build-gpu"]
    assert gpu.index("torch==2.13.0") < gpu.index(".[local]")
    assert ".[local]" not in _stages()["build"]


def test_no_secret_is_baked_into_the_image() -> None:
    env_lines = [line for line in DOCKERFILE.read_text().splitlines() if "TUNEFORGE_" in line]
    assert env_lines
    for line in env_lines:
        assert not re.search(r"SECRET|API_KEY|DATABASE_URL|PASSWORD", line), line
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", ".venv", "data"} <= set(ignored)


def test_every_pip_install_of_the_project_is_constrained() -> None:
    """An unconstrained install resolves the newest version of every dependency on the day the
    image is built: an upgrade no test has run can break a documented path."""
    text = DOCKERFILE.read_text()
    assert re.search(r"^COPY .*constraints\.txt", text, flags=re.M)
    commands = text.replace("\\\n", " ").replace("&&", "\n").splitlines()
    installs = [c for c in commands if "pip install" in c and "--upgrade pip" not in c]
    assert len(installs) == 3, installs
    for install in installs:
        assert "-c constraints.txt" in install, install

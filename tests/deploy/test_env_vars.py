"""Every ``TUNEFORGE_*`` variable the deployment files set is one ``Settings`` reads: a typo
would otherwise be ignored silently (Settings ignores unknown variables)."""

from __future__ import annotations

from pathlib import Path

from service.settings import Settings
from tests.deploy.manifests import (
    COMPOSE,
    DEPLOY,
    DOCKERFILE,
    ENTRYPOINT,
    K8S,
    k8s_documents,
    load_compose,
    tuneforge_env_names,
)

# Variables the compose file only interpolates (never passes to a process) and that are not
# Settings fields: image names and host-side paths/ports.
COMPOSE_ONLY = {
    "TUNEFORGE_IMAGE",
    "TUNEFORGE_GPU_IMAGE",
    "TUNEFORGE_API_PORT",
    "TUNEFORGE_MODELS_HOST_DIR",
}


# Read by Settings under the name its library documents (prometheus_client reads it at import).
LIBRARY_NAMES = {"PROMETHEUS_MULTIPROC_DIR"}


def _known() -> set[str]:
    return {f"TUNEFORGE_{name.upper()}" for name in Settings.model_fields} | LIBRARY_NAMES


def _deploy_texts() -> dict[Path, str]:
    files = [DOCKERFILE, ENTRYPOINT, *sorted(DEPLOY.rglob("*.yaml")), *sorted(DEPLOY.rglob("*.md"))]
    return {path: path.read_text() for path in files}


def test_every_variable_set_in_deploy_files_is_a_settings_field() -> None:
    unknown: dict[str, set[str]] = {}
    for path, text in _deploy_texts().items():
        allowed = _known() | (COMPOSE_ONLY if path == COMPOSE else set())
        if path.suffix == ".md":
            allowed |= COMPOSE_ONLY
        bad = tuneforge_env_names(text) - allowed
        if bad:
            unknown[str(path.relative_to(DEPLOY.parent))] = bad
    assert unknown == {}


def test_compose_only_names_are_not_passed_to_containers() -> None:
    for name, service in load_compose()["services"].items():
        environment = service.get("environment", {})
        assert not COMPOSE_ONLY & set(environment), name


def test_k8s_env_and_configmap_keys_are_settings_fields() -> None:
    names: set[str] = set()
    for _, doc in k8s_documents():
        if doc["kind"] in ("ConfigMap", "Secret"):
            names |= set(doc.get("data", {})) | set(doc.get("stringData", {}))
        if doc["kind"] == "Deployment" or doc["kind"] == "Job":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                names |= {env["name"] for env in container.get("env", [])}
    assert names, "no environment found in the manifests"
    assert names - _known() == set()
    assert K8S.is_dir()


def test_the_check_catches_a_misspelt_variable() -> None:
    assert tuneforge_env_names("TUNEFORGE_DATABSE_URL: x") - _known() == {"TUNEFORGE_DATABSE_URL"}

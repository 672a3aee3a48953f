"""Loading the deployment files under test: the Dockerfile, the entrypoint, compose and k8s."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = DEPLOY / "docker-entrypoint.sh"
COMPOSE = DEPLOY / "compose.yaml"
K8S = DEPLOY / "k8s"
IMAGE_ROLES = ("api", "worker", "webhook-worker", "gpu-worker", "beat", "migrate")


def load_compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def k8s_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, document)
        for path in k8s_files()
        for document in yaml.safe_load_all(path.read_text())
        if document is not None
    ]


def k8s_by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in k8s_documents() if doc["kind"] == kind}


def deployment_container(name: str) -> dict[str, Any]:
    containers: list[dict[str, Any]] = k8s_by_kind("Deployment")[name]["spec"]["template"]["spec"][
        "containers"
    ]
    assert len(containers) == 1
    return containers[0]


_ENV_NAME = re.compile(r"\bTUNEFORGE_[A-Z0-9_]+\b")


def tuneforge_env_names(text: str) -> set[str]:
    return set(_ENV_NAME.findall(text))

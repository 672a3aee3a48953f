"""deploy/k8s: every manifest passes kubernetes-validate's bundled (offline) OpenAPI schemas in
strict mode, and the topology rules hold (API replicas and probes, one beat, GPU placement)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from tests.deploy.manifests import (
    IMAGE_ROLES,
    K8S,
    deployment_container,
    k8s_by_kind,
    k8s_documents,
    k8s_files,
)
from tuneforge_cli.main import app

K8S_VERSION = "1.30.0"


def _validate(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, K8S_VERSION, strict=True)


@pytest.mark.parametrize(
    "path, document",
    k8s_documents(),
    ids=[f"{p.name}:{d['kind']}/{d['metadata']['name']}" for p, d in k8s_documents()],
)
def test_manifest_passes_the_kubernetes_schema(path: Path, document: dict[str, Any]) -> None:
    _validate(document)


def test_the_schema_check_rejects_a_misspelt_field() -> None:
    deployment = copy.deepcopy(k8s_by_kind("Deployment")["tuneforge-api"])
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(deployment)


def test_api_has_replicas_probes_service_pdb_and_hpa() -> None:
    api = k8s_by_kind("Deployment")["tuneforge-api"]
    assert api["spec"]["replicas"] >= 2
    container = deployment_container("tuneforge-api")
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    service = k8s_by_kind("Service")["tuneforge-api"]
    assert service["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]
    assert k8s_by_kind("HorizontalPodAutoscaler")["tuneforge-api"]["spec"]["minReplicas"] >= 2


def test_every_pdb_and_hpa_targets_a_deployment() -> None:
    deployments = k8s_by_kind("Deployment")
    selectors = [d["spec"]["selector"]["matchLabels"] for d in deployments.values()]
    pdbs = k8s_by_kind("PodDisruptionBudget")
    assert set(pdbs) == {"tuneforge-api", "tuneforge-worker"}
    for pdb in pdbs.values():
        assert pdb["spec"]["selector"]["matchLabels"] in selectors
    hpas = k8s_by_kind("HorizontalPodAutoscaler")
    assert set(hpas) == {"tuneforge-api", "tuneforge-worker"}
    for hpa in hpas.values():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments


def test_beat_is_a_single_replica_that_is_recreated() -> None:
    beat = k8s_by_kind("Deployment")["tuneforge-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    assert "tuneforge-beat" not in {
        h["spec"]["scaleTargetRef"]["name"] for h in k8s_by_kind("HorizontalPodAutoscaler").values()
    }


def test_gpu_worker_lands_on_gpu_nodes_and_holds_one_gpu() -> None:
    spec = k8s_by_kind("Deployment")["tuneforge-gpu-worker"]["spec"]["template"]["spec"]
    assert spec["nodeSelector"]
    assert any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
    resources = deployment_container("tuneforge-gpu-worker")["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == 1
    assert deployment_container("tuneforge-gpu-worker")["image"].endswith("tuneforge-gpu:0.1.0")


def test_workers_get_time_for_a_warm_shutdown() -> None:
    deployments = k8s_by_kind("Deployment")
    for name in ("tuneforge-worker", "tuneforge-webhook-worker", "tuneforge-gpu-worker"):
        assert deployments[name]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 60


def test_pods_run_as_the_image_user_on_the_shared_volume() -> None:
    pvc = k8s_by_kind("PersistentVolumeClaim")["tuneforge-data"]
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    pods = [d["spec"]["template"]["spec"] for d in k8s_by_kind("Deployment").values()]
    pods.append(k8s_by_kind("Job")["tuneforge-migrate"]["spec"]["template"]["spec"])
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        claims = {
            v["persistentVolumeClaim"]["claimName"]
            for v in pod["volumes"]
            if "persistentVolumeClaim" in v
        }
        assert claims == {"tuneforge-data"}


def test_container_args_are_image_roles_the_cli_accepts() -> None:
    workloads = [*k8s_by_kind("Deployment").values(), *k8s_by_kind("Job").values()]
    for workload in workloads:
        (container,) = workload["spec"]["template"]["spec"]["containers"]
        role, *extra = container["args"]
        assert role in IMAGE_ROLES
        command = {
            "gpu-worker": ["worker", "--queues", "gpu"],
            "worker": ["worker", "--queues", "default"],
            "webhook-worker": ["worker", "--queues", "webhooks"],
        }
        argv = [*command.get(role, [role]), *extra, "--help"]
        assert CliRunner().invoke(app, argv).exit_code == 0, argv


def test_kustomization_lists_every_workload_file() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    # The Secret is an example (created out of band); the Job runs per release, before rollout.
    expected = {p.name for p in k8s_files()} - {"secret.example.yaml", "migrate-job.yaml"}
    assert listed == expected

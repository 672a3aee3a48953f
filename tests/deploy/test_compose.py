"""deploy/compose.yaml: valid against the Compose Specification's JSON schema (vendored from
Debian's docker-compose 1.29 package, ``compose/config/compose_spec.json``, plus the top-level
``name`` of the current spec), since no Compose engine runs here; and sane service by service."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.deploy.manifests import IMAGE_ROLES, load_compose

SCHEMA = Path(__file__).with_name("compose_spec.json")
TUNEFORGE_SERVICES = {
    "migrate": "migrate",
    "api": "api",
    "worker": "worker",
    "webhook-worker": "webhook-worker",
    "beat": "beat",
}
SECRET_VARS = re.compile(r"SECRET|API_KEY|PASSWORD|DATABASE_URL")


def _validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


def test_compose_file_matches_the_compose_schema() -> None:
    errors = [f"{list(e.path)}: {e.message}" for e in _validator().iter_errors(load_compose())]
    assert errors == []


def test_the_schema_check_rejects_a_misspelt_key() -> None:
    broken = load_compose()
    broken["services"]["api"]["healthchek"] = broken["services"]["api"].pop("healthcheck")
    assert list(_validator().iter_errors(broken))


def test_services_run_the_image_roles() -> None:
    services = load_compose()["services"]
    assert set(services) == {
        "postgres",
        "redis",
        "migrate",
        "api",
        "worker",
        "webhook-worker",
        "beat",
        "gpu-worker",
    }
    for name, role in {**TUNEFORGE_SERVICES, "gpu-worker": "gpu-worker"}.items():
        assert services[name]["command"][0] == role
        assert role in IMAGE_ROLES
        assert services[name]["image"].startswith("${TUNEFORGE")
        assert "tuneforge-data:/data" in services[name]["volumes"]


def test_start_order_waits_for_healthy_backends_and_the_migration() -> None:
    services = load_compose()["services"]
    for backend in ("postgres", "redis", "api"):
        assert services[backend]["healthcheck"]["test"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "worker", "webhook-worker", "beat", "gpu-worker"):
        depends_on: dict[str, Any] = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully"
        assert depends_on["postgres"]["condition"] == "service_healthy"
        assert depends_on["redis"]["condition"] == "service_healthy"


def test_gpu_worker_is_optional_and_reserves_a_gpu() -> None:
    gpu = load_compose()["services"]["gpu-worker"]
    assert gpu["profiles"] == ["gpu"]
    assert gpu["build"]["target"] == "gpu"
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]


@pytest.mark.parametrize(
    "service", ["migrate", "api", "worker", "webhook-worker", "beat", "gpu-worker"]
)
def test_tuneforge_services_are_configured_for_production(service: str) -> None:
    environment: dict[str, str] = load_compose()["services"][service]["environment"]
    assert environment["TUNEFORGE_ENVIRONMENT"] == "production"
    assert environment["TUNEFORGE_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert environment["TUNEFORGE_BROKER_URL"].startswith("redis://")
    for name, value in environment.items():
        if SECRET_VARS.search(name):
            # Secrets are interpolated from the operator's environment, never written here.
            assert "${" in value, f"{name} has a literal value"

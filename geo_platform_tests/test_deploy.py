"""The production configuration in deploy/ loads and validates, and its two forms agree.

deploy/dagster.yaml is checked the way Dagster checks it when an instance starts: the file
against the instance schema, then each pluggable class (K8sRunLauncher from dagster-k8s,
AzureBlobComputeLogManager from dagster-azure, PostgreSQL storage) against its own config schema.
deploy/helm/values.yaml must describe the same instance (the chart renders it from the values).
"""

from __future__ import annotations

import importlib
import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes import ConfigurableClassData

from geo_platform.settings import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
PRODUCTION_ENV = {
    "DAGSTER_PG_HOST": "geo-platform.postgres.database.azure.com",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_USER": "dagster",
    "DAGSTER_PG_PASSWORD": "not-a-real-password",
    "DAGSTER_PG_DB": "dagster",
    "AZURE_STORAGE_ACCOUNT": "geoplatformlogs",
}


@pytest.fixture
def production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    for key, value in PRODUCTION_ENV.items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DEPLOY / "dagster.yaml", home / "dagster.yaml")
    config, custom_instance_class = dagster_instance_config(str(home))  # raises when invalid
    assert custom_instance_class is None
    return dict(config)


def _class(section: dict[str, Any]) -> Any:
    return getattr(importlib.import_module(section["module"]), section["class"])


def _validated(section: dict[str, Any]) -> dict[str, Any]:
    result = process_config(_class(section).config_type(), section.get("config", {}))
    assert result.success, [e.message for e in result.errors or []]
    value: dict[str, Any] = result.value  # type: ignore[assignment]
    return value


def test_run_launcher_config_validates_for_k8s(production: dict[str, Any]) -> None:
    launcher = production["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    value = _validated(launcher)
    assert value["load_incluster_config"] is True
    assert value["instance_config_map"] == "dagster-instance"
    labels = value["run_k8s_config"]["pod_template_spec_metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"


def test_a_typo_in_the_launcher_config_is_caught(production: dict[str, Any]) -> None:
    broken = dict(production["run_launcher"])
    broken["config"] = {**broken["config"], "load_incluster_confg": True}
    result = process_config(_class(broken).config_type(), broken["config"])
    assert not result.success
    assert "load_incluster_confg" in " ".join(e.message for e in result.errors or [])


def test_compute_logs_use_blob_storage_with_default_credential(
    production: dict[str, Any],
) -> None:
    section = production["compute_logs"]
    value = _validated(section)
    assert value["storage_account"] == PRODUCTION_ENV["AZURE_STORAGE_ACCOUNT"]  # from env
    assert value["default_azure_credential"] == {}
    assert not value.get("access_key_or_sas_token") and not value.get("secret_credential")
    # It constructs offline (DefaultAzureCredential fetches a token only on first use).
    manager = _class(section).from_config_value(
        ConfigurableClassData(section["module"], section["class"], yaml.safe_dump(section)), value
    )
    assert manager._container_client.container_name == "dagster-compute-logs"


def test_storage_is_postgres_over_tls_with_secrets_from_env(production: dict[str, Any]) -> None:
    pg = production["storage"]["postgres"]["postgres_db"]
    assert pg["scheme"] == "postgresql+psycopg2"  # the SQLAlchemy 2.1 LISTEN/NOTIFY pitfall
    assert pg["params"] == {"sslmode": "require"}  # Flexible Server accepts TLS only
    for key in ("username", "password", "hostname", "db_name", "port"):
        assert set(pg[key]) == {"env"}, key  # nothing environment-specific in the file
    from dagster_postgres import DagsterPostgresStorage

    result = process_config(DagsterPostgresStorage.config_type(), production["storage"]["postgres"])
    assert result.success, result.errors
    assert "run_queue" not in production  # cannot be combined with `concurrency`


def _helm_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    return values


def test_helm_values_describe_the_same_instance(production: dict[str, Any]) -> None:
    values = _helm_values()
    k8s = values["runLauncher"]["config"]["k8sRunLauncher"]
    launcher = production["run_launcher"]["config"]
    assert values["runLauncher"]["type"] == production["run_launcher"]["class"]
    assert k8s["jobNamespace"] == launcher["job_namespace"]
    assert k8s["loadInclusterConfig"] == launcher["load_incluster_config"]
    assert [m["name"] for m in k8s["envConfigMaps"]] == launcher["env_config_maps"]
    assert [s["name"] for s in k8s["envSecrets"]] == launcher["env_secrets"]
    run_k8s = launcher["run_k8s_config"]
    assert k8s["runK8sConfig"]["podTemplateSpecMetadata"] == run_k8s["pod_template_spec_metadata"]
    assert k8s["runK8sConfig"]["containerConfig"] == run_k8s["container_config"]
    assert values["global"]["serviceAccountName"] == launcher["service_account_name"]
    assert values["global"]["postgresqlSecretName"] == launcher["postgres_password_secret"]

    pg, pg_yaml = values["postgresql"], production["storage"]["postgres"]["postgres_db"]
    assert values["postgresql"]["enabled"] is False
    assert pg["postgresqlScheme"] == pg_yaml["scheme"]
    assert pg["postgresqlParams"] == pg_yaml["params"]

    logs = values["computeLogManager"]
    assert logs["type"] == production["compute_logs"]["class"]
    azure, logs_yaml = logs["config"]["azureBlobComputeLogManager"], production["compute_logs"]
    assert azure["storageAccount"] == logs_yaml["config"]["storage_account"]
    assert azure["container"] == logs_yaml["config"]["container"]

    conc = values["concurrency"]
    assert conc["enabled"] is True
    assert (
        conc["runs"]["maxConcurrentRuns"]
        == production["concurrency"]["runs"]["max_concurrent_runs"]
    )
    assert conc["pools"]["defaultLimit"] == production["concurrency"]["pools"]["default_limit"]
    assert values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"] == {}
    retries = values["dagsterDaemon"]["runRetries"]
    assert retries["maxRetries"] == production["run_retries"]["max_retries"]


def test_code_location_image_serves_the_projects_module() -> None:
    values = _helm_values()
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    module = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["dagster"][
        "module_name"
    ]
    assert deployment["codeServerArgs"] == ["-m", module]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert f'"-m", "{module}"' in dockerfile
    assert 'pip install ".[deploy]"' in dockerfile  # dagster-k8s is in the image
    importlib.import_module(module)  # the module the image serves loads

"""Checks of the deployment files that need no Docker engine.

They parse docker-compose.yml, the Dockerfile, the Prometheus and Grafana
files, and compare them with the code: CLI commands, settings names, metric
names, ports and mounted paths. Whether third-party images (Kafka, ClickHouse,
MinIO) contain their healthcheck commands can only be seen with Docker.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import app.metrics  # noqa: F401  (registers every campaign-analytics metric)
from app.cli import build_parser
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "campaign-analytics.json"
GRAFANA_PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"

# Read by boto3 rather than by our settings.
THIRD_PARTY_VARIABLES = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}
# Set in the Dockerfile for the Python interpreter, not for our settings.
INTERPRETER_VARIABLES = {"PYTHONUNBUFFERED"}
METRIC_NAME = re.compile(r"\bcampaign_analytics_\w+")
SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def our_services() -> dict[str, dict[str, Any]]:
    """The services that run the campaign-analytics image."""
    services = compose()["services"]
    return {name: spec for name, spec in services.items() if spec.get("image", "").startswith("campaign-analytics")}


def exposed_sample_names() -> set[str]:
    """Every sample name our metrics can expose, derived from the registered metric families."""
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("campaign_analytics_"):
            names.update(family.name + suffix for suffix in SAMPLE_SUFFIXES[family.type])
    return names


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def setting_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


# docker-compose.yml


def test_compose_services():
    services = compose()["services"]

    for name in ("kafka", "clickhouse", "minio", "minio-bucket", "worker", "api", "prometheus", "grafana"):
        assert name in services, name


def test_compose_kafka_kraft():
    kafka = compose()["services"]["kafka"]["environment"]

    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_compose_two_workers():
    assert compose()["services"]["worker"]["deploy"]["replicas"] == 2


def test_compose_commands_exist_in_cli():
    commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]

    for name, spec in our_services().items():
        assert spec["command"][0] in commands, f"{name}: {spec['command']}"


def test_compose_image_built_from_dockerfile():
    for name, spec in our_services().items():
        build = spec["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE, name


def test_compose_variables_are_settings():
    allowed = setting_names() | THIRD_PARTY_VARIABLES

    for name, spec in our_services().items():
        unknown = set(spec["environment"]) - allowed
        assert not unknown, f"{name} sets variables that no setting reads: {unknown}"


def test_compose_healthchecks_use_served_ports():
    for name, spec in our_services().items():
        environment = spec["environment"]
        port = environment.get("API_PORT", "8000") if spec["command"][0] in ("api", "run") else environment["METRICS_PORT"]
        probe = " ".join(spec["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/healthz" in probe, name
        # The image is python:*-slim: it has python, but neither curl nor wget.
        assert spec["healthcheck"]["test"][1] == "python", name


def test_compose_worker_metrics_reachable():
    worker = compose()["services"]["worker"]["environment"]

    # 127.0.0.1 inside a container is unreachable for Prometheus in another one.
    assert worker["METRICS_HOST"] == "0.0.0.0"


def test_compose_mounted_files_exist():
    for name, spec in compose()["services"].items():
        for volume in spec.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"


# Dockerfile


def test_dockerfile_entrypoint_is_console_script():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entrypoint = dict(dockerfile_instructions())["ENTRYPOINT"]

    assert json.loads(entrypoint)[0] in scripts


def test_dockerfile_default_command_exists():
    commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    command = dict(dockerfile_instructions())["CMD"]

    assert json.loads(command)[0] in commands


def test_dockerfile_copies_every_package():
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {shlex.split(arguments)[0] for keyword, arguments in dockerfile_instructions() if keyword == "COPY"}

    for pattern in packages:
        assert pattern.rstrip("*") in copied, pattern


def test_dockerfile_runs_as_non_root():
    users = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "USER"]

    assert users
    assert users[-1] not in ("root", "0")


def test_dockerfile_variables_are_settings():
    variables = set()
    for keyword, arguments in dockerfile_instructions():
        if keyword == "ENV":
            variables.update(pair.split("=")[0] for pair in shlex.split(arguments))

    assert variables - INTERPRETER_VARIABLES <= setting_names()


# Prometheus


def test_prometheus_scrapes_workers_and_api():
    config = yaml.safe_load(PROMETHEUS.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    services = compose()["services"]

    worker_discovery = jobs["campaign-analytics-worker"]["dns_sd_configs"][0]
    assert worker_discovery["names"] == ["worker"]
    assert str(worker_discovery["port"]) == services["worker"]["environment"]["METRICS_PORT"]
    assert jobs["campaign-analytics-api"]["static_configs"][0]["targets"] == ["api:8000"]
    assert "8000:8000" in services["api"]["ports"]


def test_prometheus_rule_files_mounted():
    config = yaml.safe_load(PROMETHEUS.read_text())
    mounts = [volume.split(":")[1] for volume in compose()["services"]["prometheus"]["volumes"]]

    for rule_file in config["rule_files"]:
        assert rule_file in mounts


def test_alerts_reference_existing_metrics():
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]
    exposed = exposed_sample_names()

    assert rules
    for rule in rules:
        for name in METRIC_NAME.findall(rule["expr"]):
            assert name in exposed, f"alert {rule['alert']} uses unknown metric {name}"


# Grafana


def test_dashboard_references_existing_metrics():
    dashboard = json.loads(DASHBOARD.read_text())
    exposed = exposed_sample_names()

    for panel in dashboard["panels"]:
        names = [name for target in panel["targets"] for name in METRIC_NAME.findall(target["expr"])]
        assert names, f"panel {panel['title']!r} queries none of our metrics"
        for name in names:
            assert name in exposed, f"panel {panel['title']!r} uses unknown metric {name}"


@pytest.mark.parametrize(
    "title", ["Ingest rate", "Consumer lag per partition", "Dead letters and rejects", "Insert latency", "Export jobs by status"]
)
def test_dashboard_panel_present(title: str):
    titles = [panel["title"] for panel in json.loads(DASHBOARD.read_text())["panels"]]

    assert title in titles


def test_dashboard_datasource_provisioned():
    datasources = yaml.safe_load((GRAFANA_PROVISIONING / "datasources" / "prometheus.yml").read_text())["datasources"]
    uids = {datasource["uid"] for datasource in datasources}
    dashboard = json.loads(DASHBOARD.read_text())

    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] in uids


def test_dashboard_provider_path_mounted():
    providers = yaml.safe_load((GRAFANA_PROVISIONING / "dashboards" / "campaign-analytics.yml").read_text())["providers"]
    mounts = dict(volume.split(":")[:2] for volume in compose()["services"]["grafana"]["volumes"])

    assert mounts["./deploy/grafana/dashboards"] == providers[0]["options"]["path"]


def test_exposed_names_include_lag():
    # Guards the checks above: a registry that lost our metrics would make them pass vacuously.
    exposed = exposed_sample_names()

    assert "campaign_analytics_consumer_lag" in exposed
    assert "campaign_analytics_insert_duration_seconds_bucket" in exposed
    assert "campaign_analytics_events_inserted_total" in exposed

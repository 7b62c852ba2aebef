"""docker-compose.yaml keeps the Airflow 3 production shape and gives the engine what it reads.

Docker cannot run here, so the file is checked as data (merge keys resolved by PyYAML).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_SERVICES = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-triggerer": "triggerer",
    "airflow-worker": "celery worker",
}
LONG_RUNNING = {"postgres", "redis", *AIRFLOW_SERVICES}
# CALSYNC_* names the engine may read that a deployment does not set (test, CLI and sandbox knobs).
NOT_FOR_DEPLOYMENT = re.compile(r"CALSYNC_(SANDBOX_\w*|DEBUG|TEST_\w*)$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def _env(compose: dict[str, Any], service: str) -> dict[str, str]:
    env = compose["services"][service].get("environment") or {}
    assert isinstance(env, dict), f"{service}: environment must be a mapping"
    return {k: str(v) for k, v in env.items()}


def test_services_are_the_airflow3_celery_shape(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) >= LONG_RUNNING | {"airflow-init"}
    for name, command in AIRFLOW_SERVICES.items():
        assert compose["services"][name]["command"] == command, name
    assert "webserver" not in str(compose["services"]), "Airflow 3 has an api-server, not a webserver"


def test_every_airflow_service_uses_celery_and_the_derived_image(compose: dict[str, Any]) -> None:
    images = set()
    for name in [*AIRFLOW_SERVICES, "airflow-init"]:
        svc = compose["services"][name]
        env = _env(compose, name)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://"), name
        assert "@postgres/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false", name
        assert "_PIP_ADDITIONAL_REQUIREMENTS" not in env, f"{name}: requirements belong in the image"
        assert svc.get("build"), f"{name}: built from ./Dockerfile"
        images.add(svc["image"])
    assert len(images) == 1


def test_dockerfile_extends_the_pinned_airflow_image() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.2-python3\.11\s*$", text, re.M)
    assert re.search(r"pip install .*-r \S*requirements\.txt", text)
    assert re.search(r"pip install .*--no-deps", text), "the calsync package itself"
    pinned = (ROOT / "requirements.txt").read_text()
    assert "apache-airflow==3.3.2" in pinned, "image tag and requirements must name the same Airflow"


def test_project_folders_are_mounted_and_on_the_path(compose: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        # "source:target[:mode]" once the project-dir default is substituted.
        raw = compose["services"][name]["volumes"]
        volumes = [v.replace("${AIRFLOW_PROJ_DIR:-.}", ".").split(":") for v in raw]
        targets = {v[1] for v in volumes}
        sources = {v[0] for v in volumes}
        for folder in ("dags", "plugins", "include"):
            assert f"/opt/airflow/{folder}" in targets, f"{name}: {folder} not mounted"
            assert f"./{folder}" in sources, f"{name}: {folder} not mounted from the project"
        assert "/opt/airflow/include" in _env(compose, name)["PYTHONPATH"].split(":")


def test_the_engine_gets_its_state_db_profiles_staging_and_connections(compose: dict[str, Any]) -> None:
    sql = (ROOT / "docker" / "postgres-init" / "01-calsync.sql").read_text().lower()
    postgres_mounts = compose["services"]["postgres"]["volumes"]
    assert any(v.startswith("./docker/postgres-init:/docker-entrypoint-initdb.d") for v in postgres_mounts)
    for name in AIRFLOW_SERVICES:
        env = _env(compose, name)
        url = env["CALSYNC_STATE_URL"]
        m = re.fullmatch(r"postgresql\+psycopg://(\w+):\w+@postgres(?::5432)?/(\w+)", url)
        assert m, f"{name}: CALSYNC_STATE_URL must use psycopg 3 and the compose Postgres"
        user, db = m.groups()
        assert db != "airflow", "calsync keeps its own database"
        assert f"create database {db}" in sql and f"create user {user}" in sql
        assert env["CALSYNC_PROFILES"] == "/opt/airflow/include/profiles.yaml"
        assert env["CALSYNC_STAGING_URL"].startswith("file:///opt/airflow/")
        for conn in ("AIRFLOW_CONN_SALESFORCE_DEFAULT", "AIRFLOW_CONN_MSGRAPH_DEFAULT"):
            # Taken from .env, never written into the compose file.
            assert env[conn] == f"${{{conn}:-}}", f"{name}: {conn}"


def test_every_calsync_variable_the_engine_reads_is_set(compose: dict[str, Any]) -> None:
    read: set[str] = set()
    for path in [*(ROOT / "include" / "calsync").rglob("*.py"), *(ROOT / "dags").glob("*.py")]:
        read |= set(re.findall(r"\bCALSYNC_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    needed = {v for v in read if not NOT_FOR_DEPLOYMENT.fullmatch(v)}
    assert needed >= {"CALSYNC_PROFILES"} or not read
    missing = needed - set(_env(compose, "airflow-worker"))
    assert not missing, f"set these in docker-compose.yaml (or list them in NOT_FOR_DEPLOYMENT): {missing}"


def test_health_checks_and_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in LONG_RUNNING:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in AIRFLOW_SERVICES:
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    init_env = _env(compose, "airflow-init")
    assert init_env["_AIRFLOW_DB_MIGRATE"] == "true"


def test_env_example_documents_the_connections_and_env_is_not_committed() -> None:
    example = (ROOT / ".env.example").read_text()
    for conn in ("AIRFLOW_CONN_SALESFORCE_DEFAULT", "AIRFLOW_CONN_MSGRAPH_DEFAULT", "AIRFLOW_UID"):
        assert re.search(rf"^{conn}=", example, re.M), conn
    tracked = ROOT / ".env"
    assert not tracked.exists() or ".env" in (ROOT / ".gitignore").read_text().split(), \
        "a local .env must be git-ignored"


def test_build_context_leaves_the_virtualenv_out() -> None:
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert rules[0] == "*" or ".venv" in rules or ".venv/" in rules
    copied = re.findall(r"^COPY\s+(?:--\S+\s+)*(.+?)\s+\S+$", (ROOT / "Dockerfile").read_text(), re.M)
    for sources in copied:
        for src in sources.split():
            assert rules[0] != "*" or f"!{src}" in rules or f"!{src}/" in rules, f"{src} is ignored"

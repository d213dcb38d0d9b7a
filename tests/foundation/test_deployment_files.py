"""docker-compose.yml and the Dockerfile parse and name what the app needs (no Docker engine here)."""

from __future__ import annotations

from pathlib import Path

import yaml

from caseline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_compose_parses_and_wires_mongo_replica_set_and_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"mongo", "caseline", "worker", "rasa"} <= set(services)
    assert "--replSet" in services["mongo"]["command"] and "healthcheck" in services["mongo"]
    assert services["rasa"]["profiles"] == ["rasa"]
    known = {f"CASELINE_{name.upper()}" for name in Settings.model_fields}
    for name in ("caseline", "worker"):
        env = services[name]["environment"]
        assert set(env) <= known, set(env) - known
        assert {"CASELINE_STORE", "CASELINE_SECRET_KEY", "CASELINE_DATA_DIR"} <= set(env)
        assert env["CASELINE_STORE"].startswith("mongodb://") and "replicaSet=rs0" in env["CASELINE_STORE"]
        assert "healthcheck" in services[name]
        assert services[name]["depends_on"]["mongo"]["condition"] == "service_healthy"


def test_dockerfile_runs_as_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "USER caseline" in text and "HEALTHCHECK" in text

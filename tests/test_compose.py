"""docker-compose.yml and the Dockerfile: what can break without Docker noticing here.

Docker does not run on these machines, so `docker compose config` is checked only where the
compose plugin exists; the rest reads the files for what would fail at `docker compose up`:
the API's environment must be valid Settings pointing at the replica set the database
initiates, no secret may be literal, and the image must copy what `pip install` needs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymongo.uri_parser import parse_uri

from ecg_graphql.config import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
# ${NAME:?message}: compose refuses to start when NAME is unset or empty.
REQUIRED_VARIABLE = re.compile(r"\$\{(?P<name>\w+):\?(?P<message>[^}]+)\}")
# ${NAME:-default}: optional, with a default.
OPTIONAL_VARIABLE = re.compile(r"\$\{(?P<name>\w+):-(?P<default>[^}]*)\}")
SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "KEY")
EXAMPLE_SECRETS = {
    "ECG_JWT_SECRET": "an-operator-chosen-secret-" + "s" * 32,
    "ECG_ADMIN_USERNAME": "admin",
    "ECG_ADMIN_PASSWORD": "choose-a-long-password",
}


def _services() -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return services


def _environment(name: str) -> dict[str, str]:
    env = _services()[name].get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_api_environment_is_valid_settings_for_the_initiated_replica_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in list(os.environ):
        if key.startswith("ECG_"):
            monkeypatch.delenv(key)
    env = _environment("api")
    unknown = set(env) - {f"ECG_{name.upper()}" for name in Settings.model_fields}
    assert not unknown, f"unknown settings: {unknown}"
    for key, value in env.items():
        if (required := REQUIRED_VARIABLE.fullmatch(value)) is not None:
            value = EXAMPLE_SECRETS[required["name"]]
        elif (optional := OPTIONAL_VARIABLE.fullmatch(value)) is not None:
            value = optional["default"]
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.host == "0.0.0.0"  # noqa: S104  (inside a container, by design)
    # The API must reach the member the database's healthcheck initiates, under its set name.
    assert settings.mongodb_url is not None
    uri = parse_uri(settings.mongodb_url)
    mongo = _services()["mongo"]
    command = [str(part) for part in mongo["command"]]
    healthcheck = " ".join(str(part) for part in mongo["healthcheck"]["test"])
    assert uri["options"]["replicaSet"] == command[command.index("--replSet") + 1]
    [(host, port)] = uri["nodelist"]
    assert f"host: '{host}:{port}'" in healthcheck
    assert f":{settings.port}/ready" in " ".join(
        map(str, _services()["api"]["healthcheck"]["test"])
    )


def test_secrets_are_never_literal() -> None:
    for name in _services():
        for key, value in _environment(name).items():
            if any(word in key for word in SECRET_WORDS):
                match = REQUIRED_VARIABLE.fullmatch(value)
                assert match is not None, f"{name}.{key} must be ${{{key}:?...}}, not a literal"
    assert {"ECG_JWT_SECRET", "ECG_ADMIN_PASSWORD"} <= set(_environment("api"))


def test_image_copies_what_pip_install_needs() -> None:
    copied = [
        part.rstrip("/").removeprefix("./")
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith(("COPY ", "ADD "))
        for part in line.split()[1:-1]
        if not part.startswith("--")
    ]
    assert {"pyproject.toml", "constraints.txt", "README.md", "ecg_graphql"} <= set(copied)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not [c for c in copied if c in ignored or not (ROOT / c).exists()]


def _has_compose() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    version = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)  # noqa: S603  (fixed arguments)
    return version.returncode == 0


@pytest.mark.skipif(not _has_compose(), reason="the docker compose plugin is not installed here")
def test_docker_compose_accepts_the_file() -> None:
    env = {**os.environ, **EXAMPLE_SECRETS}
    completed = subprocess.run(  # noqa: S603  (fixed arguments)
        [str(shutil.which("docker")), "compose", "-f", str(COMPOSE), "config", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stderr

"""docker-compose.yml and the Dockerfile, checked by reading them (Docker does not run here).

What `docker compose up` depends on: a MongoDB replica set that reports healthy only once it can
take writes, an API that waits for it, connects to it by service name and listens beyond
loopback, secrets that come from the environment, and an image that installs the pinned tree
and runs the service as a non-root user.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymongo.uri_parser import parse_uri

from ecg_graphql.config import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
MONGOD_DEFAULT_PORT = 27017

# ${NAME:?message}: compose refuses to start when NAME is unset or empty.
REQUIRED_VARIABLE = re.compile(r"\$\{(?P<name>\w+):\?(?P<message>[^}]+)\}")
# ${NAME:-default}: optional, with a default.
OPTIONAL_VARIABLE = re.compile(r"\$\{(?P<name>\w+):-(?P<default>[^}]*)\}")
SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "KEY")


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def _service(name: str) -> dict[str, Any]:
    service: dict[str, Any] = _compose()["services"][name]
    return service


def _environment(name: str) -> dict[str, str]:
    """A service's environment as a mapping, whichever of the two compose forms is used."""
    env = _service(name).get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _command(name: str) -> list[str]:
    command = _service(name)["command"]
    return command.split() if isinstance(command, str) else [str(c) for c in command]


def _option(argv: list[str], flag: str) -> str:
    """The value of `--flag value` or `--flag=value` in an argument list."""
    for i, arg in enumerate(argv):
        if arg == flag:
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{flag} not in {argv}")


def _healthcheck_script(name: str) -> str:
    """The healthcheck command as one string (CMD, CMD-SHELL or plain string forms)."""
    test = _service(name)["healthcheck"]["test"]
    if isinstance(test, str):
        return test
    assert test[0] in ("CMD", "CMD-SHELL"), test
    return " ".join(str(part) for part in test[1:])


def _replica_set_name() -> str:
    return _option(_command("mongo"), "--replSet")


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "Dockerfile ends inside a continued line"
    pairs = []
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        pairs.append((instruction.upper(), arguments.strip()))
    return pairs


def _dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines() if DOCKERIGNORE.exists() else []
    return [line.strip().lstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves `path` out (a file is out when any parent is)."""
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        if pattern.startswith("!"):
            raise AssertionError("negated .dockerignore patterns are not modelled by this test")
        for prefix in prefixes:
            if fnmatch.fnmatch(prefix, pattern):
                return True
            name = prefix.rsplit("/", 1)[-1]
            if pattern.startswith("**/") and fnmatch.fnmatch(name, pattern[3:]):
                return True
    return False


def test_compose_defines_the_database_and_the_api() -> None:
    assert {"mongo", "api"} <= set(_compose()["services"])


def test_mongo_is_version_7_or_later() -> None:
    image = _service("mongo")["image"]
    repository, _, tag = image.partition(":")
    assert repository == "mongo"
    assert int(tag.split(".")[0]) >= 7, image


def test_mongo_runs_as_a_replica_set_reachable_from_other_containers() -> None:
    argv = _command("mongo")
    assert _replica_set_name()
    assert "--bind_ip_all" in argv or _option(argv, "--bind_ip") == "0.0.0.0"  # noqa: S104  (by design)


def test_mongo_keeps_its_data_in_a_named_volume() -> None:
    mounts = [str(v) for v in _service("mongo")["volumes"]]
    sources = [m.split(":")[0] for m in mounts if m.split(":")[1] == "/data/db"]
    assert len(sources) == 1, mounts
    # A named volume (declared at top level), not a bind mount of some host directory.
    assert sources[0] in (_compose().get("volumes") or {})


def test_mongo_healthcheck_initiates_the_replica_set_and_waits_for_primary() -> None:
    script = _healthcheck_script("mongo")
    assert "mongosh" in script
    assert "rs.initiate(" in script
    initiated = re.search(r"_id:\s*['\"](?P<name>[^'\"]+)['\"]", script)
    assert initiated is not None
    assert initiated["name"] == _replica_set_name()
    # Healthy only when this node can take writes: a fresh replica set first elects itself.
    assert re.search(r"isWritablePrimary|ismaster|PRIMARY|myState\s*===?\s*1", script), script
    healthcheck = _service("mongo")["healthcheck"]
    assert int(healthcheck.get("retries", 3)) >= 3


def test_replica_set_member_is_the_address_the_api_connects_to() -> None:
    # The driver discovers the set through the member names in its config: they must resolve
    # and answer from inside the api container, i.e. be the service name and mongod's port.
    member = re.search(r"host:\s*['\"](?P<host>[^'\"]+)['\"]", _healthcheck_script("mongo"))
    assert member is not None
    host, _, port = member["host"].partition(":")
    assert host == "mongo"
    assert int(port or MONGOD_DEFAULT_PORT) == MONGOD_DEFAULT_PORT
    assert "--port" not in _command("mongo")


def test_api_starts_only_once_mongo_is_healthy() -> None:
    depends_on = _service("api")["depends_on"]
    assert isinstance(depends_on, dict), "the list form cannot wait for health"
    assert depends_on["mongo"]["condition"] == "service_healthy"


def test_api_connects_to_the_mongo_service_as_a_replica_set() -> None:
    parsed = parse_uri(_environment("api")["ECG_MONGODB_URL"])
    options = {str(k).lower(): v for k, v in parsed["options"].items()}
    assert parsed["nodelist"] == [("mongo", MONGOD_DEFAULT_PORT)]
    assert options.get("replicaset") == _replica_set_name()
    # directConnection=true would pin one node and ignore the replica set.
    assert options.get("directconnection") is not True


def test_api_listens_on_all_interfaces_on_the_published_port() -> None:
    env = _environment("api")
    assert env["ECG_HOST"] == "0.0.0.0"  # noqa: S104  (inside a container, by design)
    published = [str(p) for p in _service("api")["ports"]]
    assert any(p.rsplit(":", 1)[-1] == env["ECG_PORT"] for p in published), published


def test_api_healthcheck_asks_for_readiness_on_its_port() -> None:
    script = _healthcheck_script("api")
    assert f":{_environment('api')['ECG_PORT']}/ready" in script, script


def test_secrets_are_never_literal_in_the_compose_file() -> None:
    env = _environment("api")
    secrets = [key for key in env if any(word in key for word in SECRET_WORDS)]
    assert {"ECG_JWT_SECRET", "ECG_ADMIN_PASSWORD"} <= set(secrets)
    for key in secrets:
        match = REQUIRED_VARIABLE.fullmatch(env[key])
        assert match is not None, f"{key} must be ${{{key}:?...}}, not a literal"
        assert match["name"] == key
    # No other service carries a secret-looking variable with a literal value either.
    for name in _compose()["services"]:
        for key, value in _environment(name).items():
            if any(word in key for word in SECRET_WORDS):
                assert value.startswith("${"), f"{name}.{key} is a literal"


def test_compose_file_has_no_stray_interpolation() -> None:
    # Compose expands every $ it sees: a lone $ in a script would be silently replaced.
    text = COMPOSE.read_text()
    stray = re.findall(r"(?<!\$)\$(?!\$|\{)", text)
    assert stray == [], "escape literal dollar signs as $$ in docker-compose.yml"


def test_api_environment_is_a_valid_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    # The values compose hands to the container, with example secrets as an operator would set.
    examples = {
        "ECG_JWT_SECRET": "an-operator-chosen-secret-" + "s" * 32,
        "ECG_ADMIN_USERNAME": "admin",
        "ECG_ADMIN_PASSWORD": "choose-a-long-password",
    }
    for key in list(os.environ):
        if key.startswith("ECG_"):
            monkeypatch.delenv(key)
    env = _environment("api")
    fields = {f"ECG_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, f"unknown settings: {set(env) - fields}"
    for key, value in env.items():
        if (required := REQUIRED_VARIABLE.fullmatch(value)) is not None:
            value = examples[required["name"]]
        elif (optional := OPTIONAL_VARIABLE.fullmatch(value)) is not None:
            value = optional["default"]
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.mongodb_url == env["ECG_MONGODB_URL"]
    assert settings.host == "0.0.0.0"  # noqa: S104  (inside a container, by design)
    assert settings.port == int(env["ECG_PORT"])
    assert settings.jwt_secret is not None
    assert settings.admin_username == examples["ECG_ADMIN_USERNAME"]


def test_api_is_built_from_the_dockerfile() -> None:
    build = _service("api")["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context / dockerfile).resolve() == DOCKERFILE
    assert DOCKERFILE.is_file()


def test_image_is_python_3_11_slim() -> None:
    froms = [args for instruction, args in _dockerfile_instructions() if instruction == "FROM"]
    assert froms, "no FROM"
    assert froms[-1].split()[0].startswith("python:3.11-slim")


def test_image_runs_as_a_non_root_user() -> None:
    users = [args for instruction, args in _dockerfile_instructions() if instruction == "USER"]
    assert users, "the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_image_runs_the_service() -> None:
    cmds = [args for instruction, args in _dockerfile_instructions() if instruction == "CMD"]
    assert cmds, "no CMD"
    # Exec form: the service is PID 1 and gets docker's SIGTERM (no shell in between).
    assert json.loads(cmds[-1]) == ["python", "-m", "ecg_graphql", "serve"]


def test_image_installs_the_pinned_dependency_tree() -> None:
    runs = [args for instruction, args in _dockerfile_instructions() if instruction == "RUN"]
    assert any(re.search(r"pip install -c constraints\.txt \.(\s|$)", run) for run in runs), runs


def test_image_copies_everything_pip_install_needs_and_the_context_has_it() -> None:
    copied: list[str] = []
    for instruction, args in _dockerfile_instructions():
        if instruction in ("COPY", "ADD"):
            parts = [p for p in args.split() if not p.startswith("--")]
            copied.extend(parts[:-1])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = {"pyproject.toml", "constraints.txt", "ecg_graphql"}
    readme = project.get("readme")
    if isinstance(readme, str):
        needed.add(readme)
    normalised = {c.rstrip("/").removeprefix("./") for c in copied}
    assert needed <= normalised, f"not copied: {needed - normalised}"
    patterns = _dockerignore_patterns()
    for source in sorted(normalised):
        assert (ROOT / source).exists(), f"COPY of a missing path: {source}"
        assert not _ignored(source, patterns), f".dockerignore leaves out {source}"
        # A package directory must not lose its modules to the ignore list.
        if (ROOT / source).is_dir():
            modules = [p.relative_to(ROOT).as_posix() for p in (ROOT / source).rglob("*.py")]
            assert modules
            assert not [m for m in modules if _ignored(m, patterns)]

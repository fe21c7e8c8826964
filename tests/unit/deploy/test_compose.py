"""docker-compose.yml: valid against the Compose Specification schema, one hardened service per
services/ directory built from the one Dockerfile, secrets only through required variables.

compose-spec.json is the Compose Specification JSON schema (Apache-2.0, compose-spec.LICENSE),
vendored from the `check-jsonschema` 0.39.0 wheel on PyPI
(check_jsonschema/builtin_schemas/vendor/compose-spec.json); its sha256 is pinned below.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from .conftest import REPO_ROOT, discover_service_dirs, env_prefix, module_name

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
SCHEMA_FILE = Path(__file__).with_name("compose-spec.json")
SCHEMA_SHA256 = "d549057ebc2925f39f62799eab0db7b9e2c18b35b6c00595199116da3ed10e64"
SERVICES = discover_service_dirs()
SECRET_ENV = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE_KEY|DATABASE_URL|REDIS_URL")

# ---------------------------------------------------------------------------------------------
# Compose-style variable interpolation ($$, $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e},
# ${VAR?e}, ${VAR:+a}, ${VAR+a}), applied to every string value as `docker compose` does.

_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<plain>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\})"
)


class MissingVariable(Exception):
    pass


def interpolate_string(value: str, env: dict[str, str]) -> str:
    def replace(m: re.Match[str]) -> str:
        if m.group("escaped"):
            return "$"
        name = m.group("plain") or m.group("name")
        op, arg = m.group("op"), m.group("arg") or ""
        is_set = name in env
        is_nonempty = bool(env.get(name))
        if op in (":-", "-"):
            return env[name] if (is_nonempty if op == ":-" else is_set) else arg
        if op in (":?", "?"):
            if not (is_nonempty if op == ":?" else is_set):
                raise MissingVariable(f"{name}: {arg}")
            return env[name]
        if op in (":+", "+"):
            return arg if (is_nonempty if op == ":+" else is_set) else ""
        return env.get(name, "")

    return _VAR.sub(replace, value)


def interpolate(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate_string(node, env)
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    return node


def required_variables(node: Any) -> set[str]:
    """Variables that must be set (${VAR:?...} / ${VAR?...}) in the values of a parsed document."""
    if isinstance(node, dict):
        return set().union(*(required_variables(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(required_variables(v) for v in node))
    if isinstance(node, str):
        return {m.group("name") for m in _VAR.finditer(node) if m.group("op") in (":?", "?")}
    return set()


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
    return env


# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


@pytest.fixture(scope="module")
def validator(schema) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def compose(raw_compose, example_env) -> dict[str, Any]:
    """The file as `docker compose` sees it with .env.example as its .env."""
    return interpolate(raw_compose, example_env)


def _errors(validator: jsonschema.Draft202012Validator, doc: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


# ---------------------------------------------------------------------------------------------
# Schema


def test_vendored_schema_is_the_pinned_compose_spec(schema):
    assert hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest() == SCHEMA_SHA256
    assert schema["title"] == "Compose Specification"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_compose_file_is_valid_against_compose_spec(validator, raw_compose, compose):
    assert _errors(validator, raw_compose) == []
    assert _errors(validator, compose) == []


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d: d["services"]["postgres"].update(restrat="always"), id="unknown-key"),
        pytest.param(
            lambda d: d["services"]["postgres"]["healthcheck"].update(interval=5), id="bad-duration"
        ),
        pytest.param(
            lambda d: d["services"]["postgres"].update(depends_on={"redis": {"condition": "service_ready"}}),
            id="bad-depends-on-condition",
        ),
        pytest.param(lambda d: d["services"]["postgres"].update(ports="5432:5432"), id="ports-not-a-list"),
        pytest.param(lambda d: d.update(volumes=[]), id="volumes-not-a-mapping"),
    ],
)
def test_schema_rejects_broken_compose_files(validator, compose, mutate):
    broken = copy.deepcopy(compose)
    mutate(broken)
    assert _errors(validator, broken)


# ---------------------------------------------------------------------------------------------
# Secrets: required variables only, documented in .env.example


def test_secrets_are_required_variables_not_values(raw_compose):
    required = required_variables(raw_compose)
    assert {
        "POSTGRES_PASSWORD",
        "REDIS_PASSWORD",
        "GATEWAY_JWT_PRIVATE_KEY",
        "INGEST_APP_SECRETS",
        "INGEST_VERIFY_TOKEN",
    } <= required
    assert {f"{env_prefix(s)}DB_PASSWORD" for s in SERVICES} <= required
    for name, service in raw_compose["services"].items():
        env = service.get("environment") or {}
        assert isinstance(env, dict), f"{name}: use the mapping form for environment"
        for key, value in env.items():
            if SECRET_ENV.search(key):
                assert required_variables(value), f"{name}: {key} must come from a required ${{VAR:?}}"


def test_env_example_covers_every_required_variable(raw_compose, example_env):
    required = required_variables(raw_compose)
    assert sorted(required - set(example_env)) == []
    for name in required:
        assert example_env[name].startswith("change-me"), f".env.example must hold placeholders only ({name})"


def test_missing_secret_stops_compose(raw_compose, example_env):
    env = dict(example_env)
    del env["INGEST_VERIFY_TOKEN"]
    with pytest.raises(MissingVariable, match="INGEST_VERIFY_TOKEN"):
        interpolate(raw_compose, env)


def test_interpolation_rules():
    env = {"A": "1", "E": ""}
    assert interpolate_string("$$A ${A} $A ${B:-d} ${E:-d} ${E-d} ${A:+x} ${B:+x}", env) == "$A 1 1 d d  x "
    with pytest.raises(MissingVariable):
        interpolate_string("${E:?need E}", env)
    assert interpolate_string("${E?need E}", env) == ""


# ---------------------------------------------------------------------------------------------
# Infrastructure and one-shot jobs


def test_infrastructure(compose):
    services = compose["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    kenv = kafka["environment"]
    assert set(kenv["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}  # KRaft
    assert not any("ZOOKEEPER" in k for k in kenv) and "zookeeper" not in services
    assert "kafka:9092" in kenv["KAFKA_ADVERTISED_LISTENERS"]
    assert re.fullmatch(r"postgres:17(\..*|-.*)?", services["postgres"]["image"])
    assert re.fullmatch(r"redis:7(\..*|-.*)?", services["redis"]["image"])
    for name in ("kafka", "postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["restart"] == "unless-stopped", name
        assert services[name].get("volumes"), f"{name} keeps its data in a volume"


def _build_args(service: dict[str, Any]) -> dict[str, str]:
    args = service["build"].get("args") or {}
    if isinstance(args, list):
        args = dict(a.split("=", 1) for a in args)
    return args


def test_one_shot_jobs(compose, service_dirs):
    services = compose["services"]
    provision, topics = services["provision"], services["topics"]
    assert provision["entrypoint"] == ["python", "-m", "parley.kit.provision"]
    assert topics["entrypoint"] == ["python", "-m", "parley.kit.topics"]
    for job in (provision, topics):
        assert job["build"]["context"] == "." and job["build"].get("dockerfile", "Dockerfile") == "Dockerfile"
        assert _build_args(job)["SERVICE"] in service_dirs
        assert job.get("restart", "no") == "no"
    assert provision["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert topics["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert topics["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    penv = provision["environment"]
    assert penv["PARLEY_ADMIN_DATABASE_URL"].startswith("postgresql://postgres:")
    for s in service_dirs:  # provision creates each role with the password the service uses
        assert (
            penv[f"{env_prefix(s)}DATABASE_URL"] == services[s]["environment"][f"{env_prefix(s)}DATABASE_URL"]
        )


# ---------------------------------------------------------------------------------------------
# One compose service per services/ directory


def test_every_service_directory_has_a_compose_service(compose):
    missing = [s for s in SERVICES if s not in compose["services"]]
    assert not missing


@pytest.mark.parametrize("service", SERVICES)
def test_service_is_built_from_the_one_dockerfile(service, compose):
    svc = compose["services"][service]
    assert svc["build"]["context"] == "."
    assert svc["build"].get("dockerfile", "Dockerfile") == "Dockerfile"
    assert _build_args(svc) == {"SERVICE": service}
    assert "command" not in svc and "entrypoint" not in svc, "the image's default command (serve) runs"


@pytest.mark.parametrize("service", SERVICES)
def test_service_health_restart_and_dependencies(service, compose, service_ports):
    svc = compose["services"][service]
    assert svc["restart"] == "unless-stopped"
    test = svc["healthcheck"]["test"]
    command = " ".join(test) if isinstance(test, list) else test
    assert f"127.0.0.1:{service_ports[service]}/healthz" in command
    assert "curl" not in command and "python" in command
    assert not svc["healthcheck"].get("disable")
    conditions = {name: dep["condition"] for name, dep in svc["depends_on"].items()}
    assert conditions == {
        "postgres": "service_healthy",
        "kafka": "service_healthy",
        "redis": "service_healthy",
        "provision": "service_completed_successfully",
        "topics": "service_completed_successfully",
    }
    assert svc.get("read_only") is True and "ALL" in svc.get("cap_drop", [])


@pytest.mark.parametrize("service", SERVICES)
def test_service_environment(service, compose, service_ports):
    env = compose["services"][service]["environment"]
    prefix = env_prefix(service)
    assert env["PARLEY_ENV"] == "production"
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["KAFKA_IDEMPOTENT_PRODUCER"] == "true"
    assert env["REDIS_URL"].startswith("redis://") and "@redis:6379" in env["REDIS_URL"]
    assert env[f"{prefix}PORT"] == str(service_ports[service])
    assert re.fullmatch(
        rf"postgresql\+asyncpg://parley_{module_name(service)}:[^@]+@postgres:5432/parley",
        env[f"{prefix}DATABASE_URL"],
    )
    # a service sees its own database credentials only
    assert not [k for k in env if k.endswith("_DATABASE_URL") and k != f"{prefix}DATABASE_URL"]
    if service == "gateway":
        assert env["GATEWAY_JWT_PRIVATE_KEY"]
        urls = dict(item.split("=", 1) for item in env["GATEWAY_SERVICE_URLS"].split(","))
        assert urls == {s: f"http://{s}:{p}" for s, p in service_ports.items() if s != "gateway"}
    else:
        assert env[f"{prefix}JWKS_URL"] == f"http://gateway:{service_ports['gateway']}/.well-known/jwks.json"
    if service == "ingest":
        assert env["INGEST_APP_SECRETS"] and env["INGEST_VERIFY_TOKEN"]

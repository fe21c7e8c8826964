"""Dockerfile: one recipe for every service (build arg SERVICE), non-root, health-checked, and an
image that holds the service's runtime closure only (no dev tools, no parley-devstack)."""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, discover_service_dirs, env_prefix, module_name

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
UV_LOCK = REPO_ROOT / "uv.lock"
SERVICES = discover_service_dirs()
UV_VERSION = "0.13.9"


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, instruction: str) -> list[str]:
        return [a for i, a in self.instructions if i == instruction]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages) from a Dockerfile, joining continuation lines."""
    logical: list[str] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        if current.strip():
            logical.append(current.strip())
        current = ""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        instruction, _, rest = line.partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "FROM":
            parts = rest.split()
            base = parts[0]
            for name, value in global_args.items():
                base = base.replace("${" + name + "}", value)
            stages.append(
                Stage(base=base, name=parts[2] if len(parts) > 2 and parts[1].upper() == "AS" else None)
            )
        elif not stages:
            assert instruction == "ARG", f"only ARG may precede FROM, got {instruction}"
            name, _, default = rest.partition("=")
            global_args[name] = default
        else:
            stages[-1].instructions.append((instruction, rest))
    return global_args, stages


@pytest.fixture(scope="module")
def dockerfile():
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def stages(dockerfile):
    return dockerfile[1]


@pytest.fixture(scope="module")
def builder(stages):
    return stages[0]


@pytest.fixture(scope="module")
def runtime(stages):
    return stages[-1]


def test_multi_stage_on_python_312_slim(stages):
    assert len(stages) >= 2
    assert all(s.base == "python:3.12-slim" for s in stages)
    runtime = stages[-1]
    copies = runtime.args("COPY")
    assert any(c.startswith(f"--from={stages[0].name}") and "/app" in c for c in copies)
    assert not [c for c in copies if not c.startswith("--from=")], (
        "the runtime stage copies from the builder only"
    )


def test_every_stage_takes_the_service_build_arg(stages):
    for stage in stages:
        assert "SERVICE" in [a.partition("=")[0] for a in stage.args("ARG")], stage.name


def test_builder_installs_pinned_uv_with_pip(builder):
    arg_defaults = dict(a.partition("=")[::2] for a in builder.args("ARG"))
    runs = " ".join(builder.args("RUN"))
    for name, value in arg_defaults.items():
        runs = runs.replace("${" + name + "}", value)
    assert re.search(rf"pip install .*[\"']?uv=={re.escape(UV_VERSION)}[\"']?", runs)


def test_builder_syncs_only_the_chosen_service_frozen_without_dev(builder):
    syncs = [r for r in builder.args("RUN") if "uv sync" in r]
    final = syncs[-1]
    for flag in ("--frozen", "--no-dev", "--no-editable"):
        assert flag in final
    assert re.search(r"--package[ =]\"?parley-\$\{SERVICE\}\"?", final)
    for sync in syncs:
        assert "--frozen" in sync and "--no-dev" in sync and "parley-${SERVICE}" in sync


def test_runtime_runs_as_non_root(runtime):
    users = runtime.args("USER")
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    if user.isdigit():
        created = " ".join(runtime.args("RUN"))
        assert re.search(rf"useradd .*--uid {user}\b", created), "the numeric user must exist in the image"
    # the USER is in force for the process: no later stage switches back
    last_user_index = max(i for i, (ins, _) in enumerate(runtime.instructions) if ins == "USER")
    assert all(ins != "USER" for ins, _ in runtime.instructions[last_user_index + 1 :])


def test_healthcheck_uses_python_urllib_on_healthz(runtime):
    (healthcheck,) = runtime.args("HEALTHCHECK")
    assert "curl" not in healthcheck and "wget" not in healthcheck
    exec_form = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert exec_form[:2] == ["python", "-c"]
    code = exec_form[2]
    compile(code, "<healthcheck>", "exec")
    assert "urllib" in code and "/healthz" in code


def test_exposes_every_service_port(runtime, service_ports):
    exposed: set[int] = set()
    for spec in " ".join(runtime.args("EXPOSE")).split():
        low, _, high = spec.split("/")[0].partition("-")
        exposed.update(range(int(low), int(high or low) + 1))
    assert set(service_ports.values()) <= exposed


def _entrypoint(runtime) -> list[str]:
    (entrypoint,) = runtime.args("ENTRYPOINT")
    return json.loads(entrypoint)


def test_default_command_is_serve_through_the_module_entrypoint(runtime):
    assert json.loads(runtime.args("CMD")[-1]) == ["serve"]
    assert _entrypoint(runtime)[0].startswith("/app/")


@pytest.fixture(scope="module")
def built_app_dirs(builder, tmp_path_factory):
    """Run the builder's shell steps that write /app/etc (SERVICE check, port, entrypoint)
    with bash, as `docker build` would, into a temporary directory per service."""
    bash = shutil.which("bash")
    assert bash, "bash is needed to run the Dockerfile's RUN steps"
    steps = [r for r in builder.args("RUN") if "/app/etc" in r and "uv " not in r and "python -c" not in r]
    assert steps

    def run(service: str) -> tuple[int, Path]:
        root = tmp_path_factory.mktemp(service or "empty")
        for step in steps:
            script = step.replace("/app/", f"{root}/app/")
            proc = subprocess.run(
                [bash, "-euo", "pipefail", "-c", script],
                env={"SERVICE": service, "PATH": "/usr/bin:/bin"},
                capture_output=True,
                text=True,
                timeout=30,
            )
            if proc.returncode:
                return proc.returncode, root
        return 0, root

    return run


@pytest.mark.parametrize("service", SERVICES)
def test_build_steps_map_service_to_module_and_port(service, built_app_dirs, runtime, service_ports):
    rc, root = built_app_dirs(service)
    assert rc == 0
    etc = root / "app" / "etc"
    assert (etc / "port").read_text().strip() == str(service_ports[service])
    entrypoint = root / _entrypoint(runtime)[0].lstrip("/")
    assert entrypoint.read_text().splitlines()[-1] == f'exec python -m parley.{module_name(service)} "$@"'


@pytest.mark.parametrize("service", SERVICES)
def test_entrypoint_listens_on_every_interface_by_default(service, built_app_dirs, runtime, tmp_path):
    rc, root = built_app_dirs(service)
    assert rc == 0
    entrypoint = root / _entrypoint(runtime)[0].lstrip("/")
    script = entrypoint.read_text().replace(f"exec python -m parley.{module_name(service)}", "exec env")
    probe = tmp_path / "entrypoint"
    probe.write_text(script)
    host = f"{env_prefix(service)}HOST"
    run = lambda env: subprocess.run(["sh", str(probe)], env={"PATH": "/usr/bin:/bin", **env},  # noqa: E731
                                     capture_output=True, text=True, timeout=30).stdout.splitlines()
    assert f"{host}=0.0.0.0" in run({})
    assert f"{host}=127.0.0.1" in run({host: "127.0.0.1"})  # an explicit setting wins


@pytest.mark.parametrize("bad", ["", "nosuchservice", "flow_engine"])
def test_build_fails_on_an_unknown_service(bad, built_app_dirs):
    rc, _ = built_app_dirs(bad)
    assert rc != 0


def test_dockerignore_keeps_secrets_and_local_state_out(service_dirs):
    patterns = [
        p.strip() for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")
    ]

    def ignored(path: str) -> bool:
        result = False
        for p in patterns:
            negate = p.startswith("!")
            pat = p.lstrip("!").rstrip("/")
            hit = (
                fnmatch.fnmatch(path, pat)
                or fnmatch.fnmatch(path, pat.replace("**/", ""))
                or path.startswith(pat + "/")
            )
            if hit:
                result = not negate
        return result

    for path in (".git", ".venv", ".tools", ".env", ".env.production", "tests", "services/ingest/.venv"):
        assert ignored(path), path
    for path in (
        "pyproject.toml",
        "uv.lock",
        "libs",
        "services",
        "tools",
        *(f"services/{s}" for s in service_dirs),
    ):
        assert not ignored(path), path


# ---------------------------------------------------------------------------------------------
# What `uv sync --frozen --no-dev --package parley-<service>` installs, computed from uv.lock


def runtime_closure(lock: dict, package: str) -> set[str]:
    packages = {p["name"]: p for p in lock["package"]}
    seen: set[str] = set()
    todo = [(package, ())]
    while todo:
        name, extras = todo.pop()
        entry = packages[name]
        deps = list(entry.get("dependencies", []))
        for extra in extras:
            deps += entry.get("optional-dependencies", {}).get(extra, [])
        if name in seen and not extras:
            continue
        seen.add(name)
        for dep in deps:
            todo.append((dep["name"], tuple(dep.get("extra", []))))
    return seen


@pytest.fixture(scope="module")
def lock() -> dict:
    return tomllib.loads(UV_LOCK.read_text())


@pytest.mark.parametrize("service", SERVICES)
def test_image_closure_has_no_dev_tooling(service, lock):
    closure = runtime_closure(lock, f"parley-{service}")
    assert {"parley-kit", "parley-contracts", f"parley-{service}"} <= closure
    assert not closure & {"parley-devstack", "pytest", "ruff", "kubernetes-validate"}
    assert not {f"parley-{s}" for s in SERVICES if s != service} & closure, (
        "services must not depend on each other"
    )

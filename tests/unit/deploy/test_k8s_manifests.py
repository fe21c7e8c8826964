"""deploy/k8s: render the kustomize base offline, validate every object against the Kubernetes
OpenAPI schemas (kubernetes-validate, strict), and check the properties every service needs."""

from __future__ import annotations

import copy
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from .conftest import REPO_ROOT, discover_service_dirs, env_prefix

K8S_VERSION = "1.31.0"  # stated in deploy/k8s/README.md
BASE = REPO_ROOT / "deploy" / "k8s" / "base"
README = REPO_ROOT / "deploy" / "k8s" / "README.md"
NAMESPACE = "parley"
SERVICES = discover_service_dirs()

# ---------------------------------------------------------------------------------------------
# A small kustomize renderer: the subset of kustomize this base uses (resources: files and
# directories, recursively; namespace:). Anything else is rejected rather than silently
# rendered differently from `kubectl kustomize`.

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUPPORTED_KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources", "namespace"}
CLUSTER_SCOPED_KINDS = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
}


class KustomizeError(Exception):
    pass


def _kustomization_file(directory: Path) -> Path:
    for name in KUSTOMIZATION_FILES:
        if (directory / name).is_file():
            return directory / name
    raise KustomizeError(f"{directory}: no kustomization file")


def render_kustomization(directory: Path) -> list[dict[str, Any]]:
    directory = Path(directory)
    kfile = _kustomization_file(directory)
    spec = yaml.safe_load(kfile.read_text()) or {}
    if not isinstance(spec, dict):
        raise KustomizeError(f"{kfile}: not a mapping")
    unsupported = set(spec) - SUPPORTED_KUSTOMIZATION_KEYS
    if unsupported:
        raise KustomizeError(f"{kfile}: fields not supported by the test renderer: {sorted(unsupported)}")
    if spec.get("kind", "Kustomization") != "Kustomization":
        raise KustomizeError(f"{kfile}: kind must be Kustomization")

    documents: list[dict[str, Any]] = []
    for entry in spec.get("resources") or []:
        if "://" in entry or entry.startswith(("github.com/", "git@")):
            raise KustomizeError(f"{kfile}: remote resource {entry!r} cannot be rendered offline")
        target = (directory / entry).resolve()
        if target.is_dir():
            documents.extend(render_kustomization(target))
        elif target.is_file():
            for doc in yaml.safe_load_all(target.read_text()):
                if doc is None:
                    continue
                if not isinstance(doc, dict) or "kind" not in doc or "metadata" not in doc:
                    raise KustomizeError(f"{target}: not a Kubernetes object: {doc!r:.80}")
                documents.append(doc)
        else:
            raise KustomizeError(f"{kfile}: resource {entry!r} does not exist")

    namespace = spec.get("namespace")
    if namespace:
        for doc in documents:
            if doc["kind"] not in CLUSTER_SCOPED_KINDS:
                doc["metadata"]["namespace"] = namespace

    seen: set[tuple[str, str, str | None]] = set()
    for doc in documents:
        key = (doc["kind"], doc["metadata"].get("name"), doc["metadata"].get("namespace"))
        if key in seen:
            raise KustomizeError(f"{directory}: duplicate resource {key}")
        seen.add(key)
    return documents


# ---------------------------------------------------------------------------------------------
# Property checks. Each returns a list of problems, so the tests below can also prove that a
# broken object is caught.

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_FACTORS = {
    None: 1,
    "m": Decimal("0.001"),
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


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
    if pod_spec.get("enableServiceLinks") is not False:
        # Service links inject e.g. GATEWAY_PORT=tcp://10.0.0.1:8080, clashing with <PREFIX>_ settings.
        problems.append("enableServiceLinks is not false")
    volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
    containers = pod_spec.get("containers") or []
    if not containers:
        problems.append("no containers")
    for c in containers:
        name = c.get("name")
        sc = c.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            problems.append(f"{name}: capabilities do not drop ALL")
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


SENSITIVE_ENV = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE_KEY|DATABASE_URL|REDIS_URL")


def _http_get_path(probe: dict[str, Any] | None) -> str | None:
    return ((probe or {}).get("httpGet") or {}).get("path")


def deployment_problems(dep: dict[str, Any]) -> list[str]:
    spec = dep.get("spec") or {}
    template = spec.get("template") or {}
    pod_spec = template.get("spec") or {}
    problems = pod_spec_problems(pod_spec)
    if pod_spec.get("terminationGracePeriodSeconds") != 30:
        problems.append("terminationGracePeriodSeconds is not 30")
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if not selector or any(labels.get(k) != v for k, v in selector.items()):
        problems.append("selector does not match the pod template labels")
    for c in pod_spec.get("containers") or []:
        name = c.get("name")
        if _http_get_path(c.get("livenessProbe")) != "/healthz":
            problems.append(f"{name}: livenessProbe is not GET /healthz")
        if _http_get_path(c.get("readinessProbe")) != "/readyz":
            problems.append(f"{name}: readinessProbe is not GET /readyz")
        if _http_get_path(c.get("startupProbe")) is None:
            problems.append(f"{name}: no HTTP startupProbe")
    return problems


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def manifests() -> list[dict[str, Any]]:
    return render_kustomization(BASE)


def _of_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in manifests if d["kind"] == kind}


@pytest.fixture(scope="module")
def deployments(manifests):
    return _of_kind(manifests, "Deployment")


@pytest.fixture(scope="module")
def k8s_services(manifests):
    return _of_kind(manifests, "Service")


def _container(dep: dict[str, Any]) -> dict[str, Any]:
    containers = dep["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, f"{dep['metadata']['name']}: expected one container"
    return containers[0]


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env") or []}


def _secret_refs(manifests: list[dict[str, Any]]) -> set[tuple[str, str | None]]:
    refs: set[tuple[str, str | None]] = set()
    for doc in manifests:
        pod_spec = (((doc.get("spec") or {}).get("template") or {}).get("spec")) or {}
        for c in (pod_spec.get("containers") or []) + (pod_spec.get("initContainers") or []):
            for env in c.get("env") or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    refs.add((ref["name"], ref["key"]))
            for src in c.get("envFrom") or []:
                if "secretRef" in src:
                    refs.add((src["secretRef"]["name"], None))
    return refs


# ---------------------------------------------------------------------------------------------
# Rendering and schema validation


def test_base_renders_expected_kinds(manifests):
    kinds = {d["kind"] for d in manifests}
    assert {"Namespace", "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "Job"} <= kinds
    assert len(manifests) >= 2 + 3 * len(SERVICES)


def test_every_object_is_valid_for_kubernetes_version(manifests):
    errors = []
    for doc in manifests:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as exc:
            errors.append(f"{doc['kind']}/{doc['metadata'].get('name')}: {getattr(exc, 'message', exc)}")
    assert not errors, "\n".join(errors)


def test_readme_states_the_validated_kubernetes_version():
    major_minor = ".".join(K8S_VERSION.split(".")[:2])
    assert f"Kubernetes {major_minor}" in README.read_text()


def test_namespaced_objects_live_in_the_parley_namespace(manifests):
    namespaces = _of_kind(manifests, "Namespace")
    assert NAMESPACE in namespaces
    outside = [
        f"{d['kind']}/{d['metadata']['name']}"
        for d in manifests
        if d["kind"] != "Namespace" and d["metadata"].get("namespace") != NAMESPACE
    ]
    assert not outside


def test_no_secret_objects_in_the_repository(manifests):
    assert not [d for d in manifests if d["kind"] == "Secret"]
    for cm in _of_kind(manifests, "ConfigMap").values():
        leaked = [k for k in cm.get("data") or {} if SENSITIVE_ENV.search(k)]
        assert not leaked, f"ConfigMap {cm['metadata']['name']} holds secret-like keys {leaked}"


def test_every_referenced_secret_is_documented(manifests):
    readme_lines = README.read_text().splitlines()
    refs = _secret_refs(manifests)
    assert refs, "no secretKeyRef at all: secrets must come from Secret objects"
    undocumented = [
        (name, key)
        for name, key in sorted(refs, key=str)
        if not any(f"`{name}`" in line and (key is None or f"`{key}`" in line) for line in readme_lines)
    ]
    assert not undocumented, f"secrets missing from deploy/k8s/README.md: {undocumented}"


def test_every_referenced_configmap_exists(manifests):
    configmaps = set(_of_kind(manifests, "ConfigMap"))
    for doc in manifests:
        pod_spec = (((doc.get("spec") or {}).get("template") or {}).get("spec")) or {}
        for c in pod_spec.get("containers") or []:
            for src in c.get("envFrom") or []:
                if "configMapRef" in src:
                    assert src["configMapRef"]["name"] in configmaps


# ---------------------------------------------------------------------------------------------
# One Deployment per service, and what each needs


def test_one_deployment_per_service_directory(deployments):
    assert sorted(deployments) == SERVICES


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_is_hardened_and_probed(service, deployments):
    assert deployment_problems(deployments[service]) == []


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_runs_the_service_image_and_port(service, deployments, service_ports):
    container = _container(deployments[service])
    assert container["image"].split(":")[0] == f"parley/{service}"
    assert container.get("args", ["serve"]) == ["serve"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": service_ports[service]}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in ("http", service_ports[service])


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_environment(service, deployments, service_ports):
    container = _container(deployments[service])
    env = _env(container)
    prefix = env_prefix(service)
    assert env[f"{prefix}PORT"]["value"] == str(service_ports[service])
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
    if service == "ingest":
        for name in ("INGEST_APP_SECRETS", "INGEST_VERIFY_TOKEN"):
            assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "parley-ingest"


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_has_a_matching_clusterip_service(service, deployments, k8s_services, service_ports):
    assert service in k8s_services, f"no Service named {service}"
    svc = k8s_services[service]["spec"]
    pod_labels = deployments[service]["spec"]["template"]["metadata"]["labels"]
    assert svc.get("type", "ClusterIP") == "ClusterIP"
    assert svc["selector"] and all(pod_labels.get(k) == v for k, v in svc["selector"].items())
    (port,) = svc["ports"]
    assert port["port"] == service_ports[service]
    container_ports = {p["name"]: p["containerPort"] for p in _container(deployments[service])["ports"]}
    assert port["targetPort"] in container_ports or port["targetPort"] in container_ports.values()


@pytest.mark.parametrize("service", SERVICES)
def test_deployment_has_an_autoscaler(service, manifests):
    hpas = [
        h
        for h in _of_kind(manifests, "HorizontalPodAutoscaler").values()
        if h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": service}
    ]
    assert len(hpas) == 1
    assert 1 <= hpas[0]["spec"]["minReplicas"] <= hpas[0]["spec"]["maxReplicas"]


def test_setup_jobs(manifests, service_dirs):
    jobs = _of_kind(manifests, "Job")
    commands = {name: _container(job)["command"] for name, job in jobs.items()}
    assert commands["parley-provision"] == ["python", "-m", "parley.kit.provision"]
    assert commands["parley-topics"] == ["python", "-m", "parley.kit.topics"]
    for name, job in jobs.items():
        assert pod_spec_problems(job["spec"]["template"]["spec"]) == [], name
    provision_env = _env(_container(jobs["parley-provision"]))
    assert "secretKeyRef" in provision_env["PARLEY_ADMIN_DATABASE_URL"]["valueFrom"]
    for service in service_dirs:
        ref = provision_env[f"{env_prefix(service)}DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": f"parley-{service}", "key": "database-url"}


# ---------------------------------------------------------------------------------------------
# The checks above catch broken manifests


def test_property_checks_catch_a_broken_deployment(deployments):
    dep = copy.deepcopy(deployments[SERVICES[0]])
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    del c["readinessProbe"]
    c["livenessProbe"]["httpGet"]["path"] = "/"
    del c["resources"]["limits"]
    c["securityContext"]["readOnlyRootFilesystem"] = False
    pod["securityContext"]["runAsNonRoot"] = False
    pod["terminationGracePeriodSeconds"] = 5
    del pod["enableServiceLinks"]
    c["env"].append({"name": "X_DATABASE_URL", "value": "postgresql://u:p@h/db"})
    problems = "\n".join(deployment_problems(dep))
    for expected in (
        "readinessProbe",
        "livenessProbe",
        "no limits.cpu",
        "no limits.memory",
        "readOnlyRootFilesystem",
        "runAsNonRoot",
        "enableServiceLinks",
        "terminationGracePeriodSeconds",
        "X_DATABASE_URL",
    ):
        assert expected in problems


def test_property_checks_catch_request_above_limit(deployments):
    dep = copy.deepcopy(deployments[SERVICES[0]])
    resources = dep["spec"]["template"]["spec"]["containers"][0]["resources"]
    resources["requests"]["memory"] = "2Gi"
    resources["limits"]["cpu"] = "lots"
    problems = "\n".join(deployment_problems(dep))
    assert "memory request" in problems and "not a Kubernetes quantity" in problems


def test_schema_validation_rejects_an_invalid_object(deployments):
    dep = copy.deepcopy(deployments[SERVICES[0]])
    dep["spec"]["template"]["spec"]["containers"][0]["livenessprobe"] = {}  # typo: unknown field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)
    dep = copy.deepcopy(deployments[SERVICES[0]])
    del dep["spec"]["selector"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)


def test_renderer_rejects_what_it_cannot_render(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(KustomizeError, match="does not exist"):
        render_kustomization(tmp_path)
    (tmp_path / "kustomization.yaml").write_text("resources: []\npatches: []\n")
    with pytest.raises(KustomizeError, match="not supported"):
        render_kustomization(tmp_path)
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    (tmp_path / "kustomization.yaml").write_text("resources: [a.yaml, a.yaml]\n")
    with pytest.raises(KustomizeError, match="duplicate"):
        render_kustomization(tmp_path)


def test_renderer_applies_namespace_and_recurses(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (sub / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    (tmp_path / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n")
    (tmp_path / "kustomization.yaml").write_text("namespace: demo\nresources: [ns.yaml, sub]\n")
    docs = render_kustomization(tmp_path)
    assert [(d["kind"], d["metadata"].get("namespace")) for d in docs] == [
        ("Namespace", None),
        ("ConfigMap", "demo"),
    ]

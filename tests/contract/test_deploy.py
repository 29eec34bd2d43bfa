"""deploy/ is the Kubernetes deployment of DESIGN §7. These checks keep it
rendering, valid against the Kubernetes schemas (offline), in one shape for
every service, and in step with the gateway config and descriptor set the
repository produces. Nothing here needs a cluster or the network; the checks
that render with kustomize are skipped where `kubectl` is not installed.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from billingos_cli.gateway import render
from billingos_cli.kubernetes import (
    DESCRIPTOR_MOUNT,
    GATEWAY_TOKEN_PLACEHOLDER,
    GRPC_PORT,
    OPENAPI_MOUNT,
    WEB_COPY,
    WEB_COPY_FILES,
    WEB_MOUNT,
    kubernetes_gateway_target,
    web_kustomization,
)
from billingos_cli.paths import DEPLOY_DIR, DESCRIPTOR_SET, OPENAPI_FILE
from billingos_cli.services import SERVICES
from billingos_kit.headers import SERVICE_TOKEN_HEADER
from billingos_kit.local import venv_binary
from billingos_kit.settings import ServiceSettings

pytestmark = pytest.mark.contract

# A release kubernetes-validate ships schemas for; strict schemas also refuse
# fields Kubernetes does not know (a misspelt key is an error, not a no-op).
KUBERNETES_VERSION = "1.32.0"

BASE = DEPLOY_DIR / "base"
DEV = DEPLOY_DIR / "overlays" / "dev"
KUSTOMIZATIONS = {"base": BASE, "dev": DEV}
GATEWAY = BASE / "gateway"
ENVOY_TEMPLATE = GATEWAY / "envoy.yaml"
DESCRIPTOR_COPY = GATEWAY / "billingos.binpb"
OPENAPI_COPY = GATEWAY / "billingos.openapi.json"

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")
LONG_RUNNING_KINDS = ("Deployment", "StatefulSet")
SERVICE_COMPONENT = "service"
MIGRATIONS_COMPONENT = "migrations"
SECRET_NAME = "billingos-secrets"
# kustomize names a generated object `<name>-<10-character content hash>`.
GENERATED_SUFFIX = re.compile(r"-[a-z0-9]{10}$")


# --- the gateway's generated inputs ------------------------------------------


def test_gateway_config_is_what_the_renderer_produces_now() -> None:
    fresh = yaml.safe_dump(render(kubernetes_gateway_target()), sort_keys=False)
    assert ENVOY_TEMPLATE.read_text() == fresh, (
        "deploy/base/gateway/envoy.yaml is stale: "
        "run ./billingos gateway render --out deploy/base/gateway/envoy.yaml"
    )


def test_descriptor_copy_is_the_generated_descriptor_set() -> None:
    assert DESCRIPTOR_COPY.read_bytes() == DESCRIPTOR_SET.read_bytes(), (
        "deploy/base/gateway/billingos.binpb differs from gen/descriptors/billingos.binpb: "
        "copy it again"
    )


def test_openapi_copy_is_the_generated_document() -> None:
    assert OPENAPI_COPY.read_bytes() == OPENAPI_FILE.read_bytes(), (
        "deploy/base/gateway/billingos.openapi.json differs from "
        "gen/openapi/billingos.openapi.json: run ./billingos gen"
    )


def test_gateway_config_holds_the_token_placeholder_and_no_token() -> None:
    values = _service_token_values(yaml.safe_load(ENVOY_TEMPLATE.read_text()))
    assert values, f"the gateway config sets no {SERVICE_TOKEN_HEADER}"
    assert set(values) == {GATEWAY_TOKEN_PLACEHOLDER}


# --- rendering and the Kubernetes schemas --------------------------------------


@pytest.fixture(params=sorted(KUSTOMIZATIONS))
def rendered(request: pytest.FixtureRequest) -> tuple[dict[str, Any], ...]:
    return _kustomize(request.param)


def test_manifests_render_and_match_the_kubernetes_schemas(
    rendered: tuple[dict[str, Any], ...],
) -> None:
    assert rendered, "kustomize rendered nothing"
    errors = []
    for doc in rendered:
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(str(part) for part in error.path)
            errors.append(f"{_name(doc)}: {where}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            errors.append(f"{_name(doc)}: {error.message}")
    assert errors == []


def test_base_leaves_the_namespace_to_overlays() -> None:
    namespaced = [_name(d) for d in _kustomize("base") if "namespace" in d["metadata"]]
    assert namespaced == []


def test_dev_puts_everything_in_its_namespace() -> None:
    docs = _kustomize("dev")
    namespaces = [d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"]
    assert namespaces == ["billingos-dev"]
    elsewhere = [
        _name(d)
        for d in docs
        if d["kind"] != "Namespace" and d["metadata"].get("namespace") != "billingos-dev"
    ]
    assert elsewhere == []


# --- every workload -------------------------------------------------------------


def test_every_container_declares_resources_and_runs_locked_down(
    rendered: tuple[dict[str, Any], ...],
) -> None:
    problems = []
    for workload in _of_kind(rendered, *WORKLOAD_KINDS):
        pod = _pod_spec(workload)
        pod_security = pod.get("securityContext", {})
        for container in _all_containers(pod):
            where = f"{_name(workload)} container {container['name']}"
            resources = container.get("resources", {})
            for resource in ("cpu", "memory"):
                if resource not in resources.get("requests", {}):
                    problems.append(f"{where}: no {resource} request")
            if "memory" not in resources.get("limits", {}):
                problems.append(f"{where}: no memory limit")
            security = container.get("securityContext", {})
            if not security.get("runAsNonRoot", pod_security.get("runAsNonRoot")):
                problems.append(f"{where}: may run as root")
            if security.get("runAsUser", pod_security.get("runAsUser")) == 0:
                problems.append(f"{where}: runs as uid 0")
            if security.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root filesystem is writable")
            if security.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation allowed")
            if "ALL" not in security.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}: capabilities not dropped")
    assert problems == []


def test_long_running_containers_have_liveness_and_readiness_probes(
    rendered: tuple[dict[str, Any], ...],
) -> None:
    missing = [
        f"{_name(workload)} container {container['name']}: {probe}"
        for workload in _of_kind(rendered, *LONG_RUNNING_KINDS)
        for container in _pod_spec(workload)["containers"]
        for probe in ("livenessProbe", "readinessProbe")
        if probe not in container
    ]
    assert missing == []


def test_services_select_only_the_pods_of_one_workload(
    rendered: tuple[dict[str, Any], ...],
) -> None:
    for service in _of_kind(rendered, "Service"):
        selector = service["spec"]["selector"]
        servers = [
            _name(w) for w in _of_kind(rendered, *LONG_RUNNING_KINDS) if _selects(selector, w)
        ]
        jobs = [_name(j) for j in _of_kind(rendered, "Job") if _selects(selector, j)]
        assert len(servers) == 1, f"{_name(service)} selects {servers}"
        assert jobs == [], f"{_name(service)} would send traffic to {jobs}"


# --- the BillingOS services: one shape for all --------------------------------------


def test_every_service_of_the_suite_is_deployed(rendered: tuple[dict[str, Any], ...]) -> None:
    deployed = {d["metadata"]["name"] for d in _service_deployments(rendered)}
    assert deployed == {spec.name for spec in SERVICES}


def test_the_gateway_finds_every_upstream_at_its_service_name(
    rendered: tuple[dict[str, Any], ...],
) -> None:
    services = {s["metadata"]["name"]: s for s in _of_kind(rendered, "Service")}
    for upstream in kubernetes_gateway_target().upstreams.values():
        service = services.get(upstream.host)
        assert service is not None, f"no Service named {upstream.host}"
        ports = [p for p in service["spec"]["ports"] if p["port"] == upstream.port]
        assert ports, f"Service {upstream.host} has no port {upstream.port}"
        (deployment,) = [
            d for d in _service_deployments(rendered) if _selects(service["spec"]["selector"], d)
        ]
        container = _pod_spec(deployment)["containers"][0]
        assert _container_port(container, ports[0]["targetPort"]) == GRPC_PORT


def test_services_serve_grpc_health_to_their_probes(
    rendered: tuple[dict[str, Any], ...],
) -> None:
    for deployment in _service_deployments(rendered):
        name = deployment["metadata"]["name"]
        (container,) = _pod_spec(deployment)["containers"]
        assert container["args"] == [f"billingos_{name}", "serve"]
        assert [p["containerPort"] for p in container["ports"]] == [GRPC_PORT]
        for probe in ("livenessProbe", "readinessProbe"):
            assert container[probe].get("grpc", {}).get("port") == GRPC_PORT, (
                f"{name}: {probe} is not a gRPC health check on port {GRPC_PORT}"
            )
        environment = _environment(rendered, container)
        listen = environment.get(f"BILLINGOS_{name.upper()}_GRPC_LISTEN") or environment.get(
            "BILLINGOS_GRPC_LISTEN"
        )
        assert listen == f"0.0.0.0:{GRPC_PORT}", f"{name} listens on {listen}"


def test_services_take_their_credentials_from_the_secret_and_find_nats(
    rendered: tuple[dict[str, Any], ...],
) -> None:
    services = {s["metadata"]["name"]: s for s in _of_kind(rendered, "Service")}
    for deployment in _service_deployments(rendered):
        (container,) = _pod_spec(deployment)["containers"]
        environment = _environment(rendered, container)
        assert environment["DATABASE_URL"] == ("secret", SECRET_NAME, "database-url")
        assert environment["BILLINGOS_SERVICE_TOKEN"] == ("secret", SECRET_NAME, "service-token")
        assert environment["BILLINGOS_GATEWAY_TOKEN"] == ("secret", SECRET_NAME, "gateway-token")
        nats = re.fullmatch(r"nats://([a-z0-9-]+):(\d+)", str(environment["NATS_URL"]))
        assert nats is not None, environment["NATS_URL"]
        host, port = nats.group(1), int(nats.group(2))
        assert host in services, f"NATS_URL names {host}, which no Service is"
        assert port in [p["port"] for p in services[host]["spec"]["ports"]]


def test_every_service_has_its_migrations_job(rendered: tuple[dict[str, Any], ...]) -> None:
    jobs = {j["metadata"]["name"]: j for j in _of_kind(rendered, "Job")}
    for deployment in _service_deployments(rendered):
        name = deployment["metadata"]["name"]
        job = jobs.get(f"{name}-migrate")
        assert job is not None, f"{name} has no {name}-migrate Job"
        assert job["metadata"]["labels"]["app.kubernetes.io/component"] == MIGRATIONS_COMPONENT
        (server,) = _pod_spec(deployment)["containers"]
        (migrate,) = _pod_spec(job)["containers"]
        assert migrate["args"] == [f"billingos_{name}", "migrate"]
        assert migrate["image"] == server["image"]
        # The same settings: a migration must reach the database the server uses.
        assert _environment(rendered, migrate) == _environment(rendered, server)


def test_service_pods_outlive_their_graceful_shutdown(
    rendered: tuple[dict[str, Any], ...],
) -> None:
    default_grace = ServiceSettings.model_fields["shutdown_grace_seconds"].default
    for deployment in _service_deployments(rendered):
        name = deployment["metadata"]["name"]
        pod = _pod_spec(deployment)
        (container,) = pod["containers"]
        environment = _environment(rendered, container)
        grace = float(
            environment.get(f"BILLINGOS_{name.upper()}_SHUTDOWN_GRACE_SECONDS")
            or environment.get("BILLINGOS_SHUTDOWN_GRACE_SECONDS")
            or default_grace
        )
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {})
        sleep = float(pre_stop["command"][1]) if pre_stop.get("command", [""])[0] == "sleep" else 0
        # ServiceApp.stop gives in-flight calls `grace`, then background work
        # (relay, consumers) up to `grace` again; Kubernetes kills after the
        # termination grace period, counted from the start of preStop.
        needed = sleep + 2 * grace
        assert pod.get("terminationGracePeriodSeconds", 30) > needed, (
            f"{name}: terminationGracePeriodSeconds must exceed {needed}"
        )


# --- the gateway pod ----------------------------------------------------------------


def test_gateway_pod_mounts_the_generated_config_and_descriptor_set(
    rendered: tuple[dict[str, Any], ...],
) -> None:
    (gateway,) = [d for d in _of_kind(rendered, "Deployment") if _name(d) == "Deployment/gateway"]
    pod = _pod_spec(gateway)
    config_maps = {c["metadata"]["name"]: c for c in _of_kind(rendered, "ConfigMap")}
    volumes = {v["name"]: v for v in pod["volumes"]}

    def mounted_config_map(container: dict[str, Any], directory: str) -> dict[str, Any]:
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
        return config_maps[volumes[mount["name"]]["configMap"]["name"]]

    (envoy,) = [c for c in pod["containers"] if c["name"] == "envoy"]
    descriptors = mounted_config_map(envoy, os.path.dirname(DESCRIPTOR_MOUNT))
    binary = descriptors["binaryData"][os.path.basename(DESCRIPTOR_MOUNT)]
    assert base64.b64decode(binary) == DESCRIPTOR_SET.read_bytes()
    openapi = mounted_config_map(envoy, os.path.dirname(OPENAPI_MOUNT))
    assert openapi["data"][os.path.basename(OPENAPI_MOUNT)] == OPENAPI_FILE.read_text()

    (init,) = pod["initContainers"]
    template_dir, output = _start_script_paths(init)
    template = mounted_config_map(init, str(template_dir))
    assert template["data"]["envoy.yaml"] == ENVOY_TEMPLATE.read_text()
    # Envoy reads the file the init container writes, through the same volume.
    config_path = Path(envoy["args"][envoy["args"].index("--config-path") + 1])
    assert config_path == output
    written_to = {m["name"] for m in init["volumeMounts"] if m["mountPath"] == str(output.parent)}
    read_from = {m["name"] for m in envoy["volumeMounts"] if m["mountPath"] == str(output.parent)}
    assert written_to == read_from != set()
    assert "emptyDir" in volumes[next(iter(read_from))]


def test_gateway_pod_mounts_the_front_end_it_serves(
    rendered: tuple[dict[str, Any], ...],
) -> None:
    """The front end (/pricing-table.js, /assets/…) is the gateway-web
    ConfigMap, made from deploy's copy of web/dist (`./billingos gen`), and
    every file the config serves is in it, under WEB_MOUNT."""
    copied = sorted(p for p in WEB_COPY_FILES.rglob("*") if p.is_file())
    assert copied, "deploy/base/gateway/web/files/ is empty: run ./billingos gen"
    relative = [p.relative_to(WEB_COPY_FILES).as_posix() for p in copied]
    assert (WEB_COPY / "kustomization.yaml").read_text() == web_kustomization(relative)

    (gateway,) = [d for d in _of_kind(rendered, "Deployment") if _name(d) == "Deployment/gateway"]
    pod = _pod_spec(gateway)
    (envoy,) = [c for c in pod["containers"] if c["name"] == "envoy"]
    (mount,) = [m for m in envoy["volumeMounts"] if m["mountPath"] == WEB_MOUNT]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    config_maps = {c["metadata"]["name"]: c for c in _of_kind(rendered, "ConfigMap")}
    web = config_maps[volume["configMap"]["name"]]
    contents = {
        **{k: v.encode() for k, v in web.get("data", {}).items()},
        **{k: base64.b64decode(v) for k, v in web.get("binaryData", {}).items()},
    }
    assert contents == {p.name: p.read_bytes() for p in copied}

    served = kubernetes_gateway_target().static_files
    assert "/pricing-table.js" in [f.route for f in served]
    assert sorted(os.path.basename(f.filename) for f in served) == sorted(contents)
    assert {os.path.dirname(f.filename) for f in served} == {WEB_MOUNT}


def test_the_gateway_token_reaches_the_gateway_only_through_the_secret() -> None:
    docs = _kustomize("dev")
    (secret,) = _of_kind(docs, "Secret")
    token = base64.b64decode(secret["data"]["gateway-token"]).decode()
    assert token
    assert token != GATEWAY_TOKEN_PLACEHOLDER
    assert token != base64.b64decode(secret["data"]["service-token"]).decode()
    for config_map in _of_kind(docs, "ConfigMap"):
        texts = list(config_map.get("data", {}).values())
        blobs = [base64.b64decode(b) for b in config_map.get("binaryData", {}).values()]
        assert not any(token in text for text in texts), f"{_name(config_map)} holds the token"
        assert not any(token.encode() in blob for blob in blobs), _name(config_map)
    (gateway,) = [d for d in _of_kind(docs, "Deployment") if _name(d) == "Deployment/gateway"]
    (init,) = _pod_spec(gateway)["initContainers"]
    assert _environment(docs, init)["BILLINGOS_GATEWAY_TOKEN"] == (
        "secret",
        SECRET_NAME,
        "gateway-token",
    )


def test_gateway_start_script_fills_in_the_token_and_envoy_accepts_the_result(
    tmp_path: Path,
) -> None:
    envoy_binary = venv_binary("envoy")
    deployment = yaml.safe_load((GATEWAY / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    token = _dev_secret_literals()["gateway-token"]

    config = _run_start_script(pod["initContainers"][0], token, tmp_path)

    assert config.returncode == 0, config.stderr
    written = (tmp_path / "config" / "envoy.yaml").read_text()
    assert GATEWAY_TOKEN_PLACEHOLDER not in written
    assert set(_service_token_values(yaml.safe_load(written))) == {token}

    # The pod mounts the descriptor set at DESCRIPTOR_MOUNT, the OpenAPI
    # document at OPENAPI_MOUNT and the front end's files, flat, at
    # WEB_MOUNT; here they are the repository's copies. Then Envoy checks the
    # config as the pod runs it (a direct response's file must exist).
    web = tmp_path / "web"
    web.mkdir()
    for path in WEB_COPY_FILES.rglob("*"):
        if path.is_file():
            shutil.copy(path, web / path.name)
    local = tmp_path / "envoy-local.yaml"
    local.write_text(
        written.replace(DESCRIPTOR_MOUNT, str(DESCRIPTOR_COPY))
        .replace(OPENAPI_MOUNT, str(OPENAPI_COPY))
        .replace(WEB_MOUNT + "/", f"{web}/")
    )
    (envoy,) = pod["containers"]
    args = list(envoy["args"])
    args[args.index("--config-path") + 1] = str(local)
    validated = subprocess.run(
        [str(envoy_binary), *args, "--mode", "validate", "--use-dynamic-base-id"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr


@pytest.mark.parametrize(
    "token",
    ["", "has space", "a/b", "a&b", 'quote"d', "colon:hash#", "line\nbreak", "back\\slash"],
)
def test_gateway_start_script_refuses_a_token_that_would_break_the_config(
    token: str, tmp_path: Path
) -> None:
    deployment = yaml.safe_load((GATEWAY / "deployment.yaml").read_text())
    init = deployment["spec"]["template"]["spec"]["initContainers"][0]

    result = _run_start_script(init, token, tmp_path)

    assert result.returncode != 0
    assert "gateway-token" in result.stderr
    assert not (tmp_path / "config" / "envoy.yaml").exists()


def test_gateway_image_is_the_envoy_release_the_config_is_validated_with() -> None:
    envoy_binary = venv_binary("envoy")
    deployment = yaml.safe_load((GATEWAY / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    images = {c["image"] for c in _all_containers(pod)}
    assert len(images) == 1, images
    tag = re.fullmatch(r"envoyproxy/envoy:v(\d+\.\d+)\.\d+", images.pop())
    assert tag is not None, "pin the Envoy image by a release tag, e.g. envoyproxy/envoy:v1.40.0"
    version = subprocess.run(
        [str(envoy_binary), "--version"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    local = re.search(r"/(\d+\.\d+)\.\d+/", version)
    assert local is not None, version
    assert tag.group(1) == local.group(1), (
        f"the image is Envoy {tag.group(1)} but the config is validated with {local.group(1)}"
    )


# --- NATS -------------------------------------------------------------------------


def test_nats_starts_with_its_manifest_arguments_and_passes_its_probes(tmp_path: Path) -> None:
    nats_binary = venv_binary("nats-server")
    statefulset = yaml.safe_load((BASE / "nats" / "statefulset.yaml").read_text())
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    (data,) = container["volumeMounts"]
    claim_names = [c["metadata"]["name"] for c in statefulset["spec"]["volumeClaimTemplates"]]
    assert data["name"] in claim_names

    # The manifest's flags, with the pod's ports and volume moved onto this machine.
    client_port, monitor_port = _free_port(), _free_port()
    moved = {
        str(ports["client"]): str(client_port),
        str(ports["monitor"]): str(monitor_port),
        data["mountPath"]: str(tmp_path / "data"),
        "$(POD_NAME)": "nats-0",
    }
    flags = dict(arg.split("=", 1) for arg in container["args"] if "=" in arg)
    assert flags["--port"] == str(ports["client"])
    assert flags["--http_port"] == str(ports["monitor"])
    assert flags["--store_dir"] == data["mountPath"]

    def moved_flag(arg: str) -> str:
        flag, equals, value = arg.partition("=")
        return f"{flag}={moved.get(value, value)}" if equals else arg

    args = [moved_flag(arg) for arg in container["args"]]

    server = subprocess.Popen(
        [str(nats_binary), "--addr=127.0.0.1", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for probe in ("readinessProbe", "livenessProbe"):
            check = container[probe]["httpGet"]
            port = ports[check["port"]] if isinstance(check["port"], str) else check["port"]
            assert port == ports["monitor"]
            url = f"http://127.0.0.1:{moved[str(port)]}{check['path']}"
            assert _http_status_within(url, seconds=20) == 200, url
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    assert "JetStream" in output


# --- the dev overlay ---------------------------------------------------------------


def test_dev_database_url_points_at_the_dev_postgres() -> None:
    docs = _kustomize("dev")
    literals = _dev_secret_literals()
    url = re.fullmatch(
        r"postgresql://(?P<user>[^:@]+):(?P<password>[^@]+)@(?P<host>[^:/]+):(?P<port>\d+)/(?P<db>\w+)",
        literals["database-url"],
    )
    assert url is not None, literals["database-url"]
    services = {s["metadata"]["name"]: s for s in _of_kind(docs, "Service")}
    postgres_service = services[url["host"]]
    assert int(url["port"]) in [p["port"] for p in postgres_service["spec"]["ports"]]
    (postgres,) = [
        w
        for w in _of_kind(docs, "StatefulSet")
        if _selects(postgres_service["spec"]["selector"], w)
    ]
    (container,) = _pod_spec(postgres)["containers"]
    environment = _environment(docs, container)
    assert environment["POSTGRES_USER"] == url["user"]
    assert environment["POSTGRES_DB"] == url["db"]
    assert environment["POSTGRES_PASSWORD"] == ("secret", SECRET_NAME, "postgres-password")
    assert literals["postgres-password"] == url["password"]


# --- helpers ------------------------------------------------------------------------


@functools.cache
def _kustomize(name: str) -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: cannot render the kustomizations")
    result = subprocess.run(
        [kubectl, "kustomize", str(KUSTOMIZATIONS[name])],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"kubectl kustomize {KUSTOMIZATIONS[name]}:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def _dev_secret_literals() -> dict[str, str]:
    kustomization = yaml.safe_load((DEV / "kustomization.yaml").read_text())
    (secret,) = [s for s in kustomization["secretGenerator"] if s["name"] == SECRET_NAME]
    return dict(literal.split("=", 1) for literal in secret["literals"])


def _name(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def _of_kind(docs: tuple[dict[str, Any], ...], *kinds: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] in kinds]


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def _all_containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod["containers"]]


def _service_deployments(docs: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    return [
        d
        for d in _of_kind(docs, "Deployment")
        if d["metadata"]["labels"].get("app.kubernetes.io/component") == SERVICE_COMPONENT
    ]


def _selects(selector: dict[str, str], workload: dict[str, Any]) -> bool:
    labels = workload["spec"]["template"]["metadata"].get("labels", {})
    return all(labels.get(key) == value for key, value in selector.items())


def _container_port(container: dict[str, Any], target: int | str) -> int:
    if isinstance(target, int):
        return target
    (port,) = [p["containerPort"] for p in container["ports"] if p.get("name") == target]
    return int(port)


def _environment(docs: tuple[dict[str, Any], ...], container: dict[str, Any]) -> dict[str, Any]:
    """A container's environment: literal values (from `env` and the ConfigMaps
    it loads), and `("secret", name, key)` for values taken from a Secret."""
    config_maps = {c["metadata"]["name"]: c for c in _of_kind(docs, "ConfigMap")}
    secrets = {s["metadata"]["name"] for s in _of_kind(docs, "Secret")}
    environment: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        reference = source["configMapRef"]["name"]
        assert reference in config_maps, f"no ConfigMap {reference}"
        environment.update(config_maps[reference].get("data", {}))
    for variable in container.get("env", []):
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
            continue
        source = variable["valueFrom"]
        if "secretKeyRef" in source:
            reference = source["secretKeyRef"]
            name = reference["name"]
            if secrets:  # rendered with its Secret: the reference must resolve
                assert name in secrets, f"no Secret {name}"
                name = GENERATED_SUFFIX.sub("", name)
            environment[variable["name"]] = ("secret", name, reference["key"])
        else:
            environment[variable["name"]] = ("from", repr(source))
    return environment


def _service_token_values(node: Any) -> Iterator[str]:
    """Every value the config gives the service-token header, wherever it is set."""
    if isinstance(node, dict):
        if node.get("key") == SERVICE_TOKEN_HEADER and "value" in node:
            yield node["value"]
        for child in node.values():
            yield from _service_token_values(child)
    elif isinstance(node, list):
        for child in node:
            yield from _service_token_values(child)


def _start_script_paths(init: dict[str, Any]) -> tuple[Path, Path]:
    """The template directory the start script reads and the file it writes."""
    script = init["args"][0]
    written = re.search(r">\s*(/\S+)", script)
    assert written is not None, "the start script writes no file"
    output = Path(written.group(1))
    mounts = [Path(m["mountPath"]) for m in init["volumeMounts"]]
    (template_dir,) = [m for m in mounts if m != output.parent]
    return template_dir, output


def _run_start_script(
    init: dict[str, Any], token: str, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """Runs the gateway's init container script here, its mounts moved under tmp_path."""
    template_dir, output = _start_script_paths(init)
    assert init["command"] == ["sh", "-c"]
    local_template = tmp_path / "template"
    local_config = tmp_path / "config"
    local_template.mkdir()
    local_config.mkdir()
    shutil.copy(ENVOY_TEMPLATE, local_template / "envoy.yaml")
    script = (
        init["args"][0]
        .replace(str(template_dir), str(local_template))
        .replace(str(output.parent), str(local_config))
    )
    return subprocess.run(
        ["sh", "-c", script],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "BILLINGOS_GATEWAY_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _http_status_within(url: str, *, seconds: float) -> int | None:
    deadline = time.monotonic() + seconds
    status = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local URL
                return int(response.status)
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError:
            pass
        time.sleep(0.2)
    return status

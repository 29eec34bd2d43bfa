"""services.toml is the one list of services; these checks fail when the rest
of the repository disagrees with it, naming what to add where. What the
registry generates (deploy/base/services/) must be current; what it cannot
generate (the service's package, pyproject.toml, uv.lock, the protos) must
name every service; the folders under services/ and the REST bindings in the
protos must belong to registered services.
"""

from __future__ import annotations

import importlib
import inspect
import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2
from sqlalchemy import MetaData

from billingos_cli.gateway import GATEWAY_SOURCE, GatewaySource, render
from billingos_cli.kubernetes import kubernetes_gateway_target
from billingos_cli.manifests import SERVICES_DEPLOY_DIR, leftover_manifests, service_manifests
from billingos_cli.paths import DEPLOY_DIR, DESCRIPTOR_SET, PROTOS_DIR, REPO_ROOT, SERVICES_DIR
from billingos_cli.services import SERVICES, RegistryError, ServiceSpec, load_registry
from billingos_kit.settings import ServiceSettings

pytestmark = pytest.mark.contract

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
_PACKAGE_LINE = re.compile(r"^package\s+([\w.]+)\s*;", re.MULTILINE)


def _ids(spec: ServiceSpec) -> str:
    return spec.name


each_service = pytest.mark.parametrize("spec", SERVICES, ids=_ids)


# --- the service's own code ----------------------------------------------------


def test_every_folder_under_services_is_registered() -> None:
    """The image and the uv workspace take every folder under services/; one
    not in the registry would be built but never run, migrated or routed."""
    folders = {p.name for p in SERVICES_DIR.iterdir() if (p / "pyproject.toml").exists()}
    unregistered = sorted(folders - {spec.name for spec in SERVICES})
    assert unregistered == [], f"services/{unregistered} are not in services.toml"


@each_service
def test_the_service_is_a_workspace_package(spec: ServiceSpec) -> None:
    manifest = SERVICES_DIR / spec.name / "pyproject.toml"
    assert manifest.exists(), f"services.toml names {spec.name}, but {manifest} does not exist"
    project = tomllib.loads(manifest.read_text())
    assert project["project"]["name"] == spec.distribution
    assert (spec.source_dir / spec.module / "__init__.py").exists()
    assert (spec.source_dir / spec.module / "__main__.py").exists(), (
        f"python -m {spec.module} serve|migrate is how the suite and the pods start it"
    )


@each_service
def test_the_app_module_exposes_its_migrations_and_builder(spec: ServiceSpec) -> None:
    app = importlib.import_module(f"{spec.module}.app")
    migrations = getattr(app, "MIGRATIONS_DIR", None)
    assert isinstance(migrations, Path), f"{spec.module}.app has no MIGRATIONS_DIR"
    assert (migrations / "env.py").exists(), f"{migrations} is not an Alembic folder"
    assert callable(getattr(app, "build_app", None)), f"{spec.module}.app has no build_app"


@each_service
def test_the_models_live_in_the_registered_schema(spec: ServiceSpec) -> None:
    """The schema its migrations create and its version table sits in (the
    kit takes both from the models' MetaData)."""
    models = importlib.import_module(f"{spec.module}.models")
    found = [*vars(models).values()]
    metadata = [v for v in found if isinstance(v, MetaData)]
    metadata += [v.metadata for v in found if isinstance(getattr(v, "metadata", None), MetaData)]
    assert {m.schema for m in metadata if m.schema} == {spec.schema}, (
        f"{spec.module}.models' tables are not in the schema {spec.schema!r}"
    )


@each_service
def test_the_settings_default_to_the_registered_port(spec: ServiceSpec) -> None:
    """`python -m billingos_<name> serve` alone listens where `./billingos up` puts it."""
    settings = importlib.import_module(f"{spec.module}.settings")
    (found,) = [
        value
        for value in vars(settings).values()
        if inspect.isclass(value)
        and issubclass(value, ServiceSettings)
        and value.service_name == spec.name
    ]
    listen = str(found.model_fields["grpc_listen"].default)
    assert listen.rpartition(":")[2] == str(spec.port), (
        f"{found.__name__}.grpc_listen is {listen}; services.toml says port {spec.port}"
    )


# --- pyproject.toml and uv.lock -------------------------------------------------

_TOOL = PYPROJECT["tool"]
_LOCK = tomllib.loads((REPO_ROOT / "uv.lock").read_text())
# Where each service must be named, and as what. (An entry for a service that
# is gone fails on its own: uv finds no workspace member, mypy no package.)
NAMED_IN: dict[str, tuple[set[str], Callable[[ServiceSpec], str]]] = {
    "pyproject.toml [tool.uv.sources]": (
        set(_TOOL["uv"]["sources"]),
        lambda spec: spec.distribution,
    ),
    "pyproject.toml [project] dependencies": (
        {re.split(r"[\[<>=~!; ]", d, maxsplit=1)[0] for d in PYPROJECT["project"]["dependencies"]},
        lambda spec: spec.distribution,
    ),
    "pyproject.toml [tool.mypy] mypy_path": (
        set(_TOOL["mypy"]["mypy_path"].split(":")),
        lambda spec: spec.source_dir.relative_to(REPO_ROOT).as_posix(),
    ),
    "pyproject.toml [tool.mypy] packages": (
        set(_TOOL["mypy"]["packages"]),
        lambda spec: spec.module,
    ),
    "pyproject.toml [tool.ruff.lint.isort] known-first-party": (
        set(_TOOL["ruff"]["lint"]["isort"]["known-first-party"]),
        lambda spec: spec.module,
    ),
    "uv.lock [manifest] members (run .venv/bin/uv lock)": (
        set(_LOCK["manifest"]["members"]),
        lambda spec: spec.distribution,
    ),
}


@pytest.mark.parametrize("where", list(NAMED_IN))
def test_pyproject_and_the_lock_name_every_service(where: str) -> None:
    listed, entry = NAMED_IN[where]
    missing = [entry(spec) for spec in SERVICES if entry(spec) not in listed]
    assert missing == [], f"{where} lacks {missing}"


# --- the protos and the gateway -------------------------------------------------


def _proto_packages() -> dict[str, list[Path]]:
    """Each proto package declared under protos/, with its files."""
    found: dict[str, list[Path]] = {}
    for path in sorted(PROTOS_DIR.rglob("*.proto")):
        for package in _PACKAGE_LINE.findall(path.read_text()):
            found.setdefault(package, []).append(path)
    return found


@each_service
def test_the_proto_package_exists(spec: ServiceSpec) -> None:
    files = _proto_packages().get(spec.package)
    assert files, f"no .proto under protos/ declares `package {spec.package};`"
    folder = PROTOS_DIR.joinpath(*spec.package.split("."))
    assert all(f.parent == folder for f in files), f"{spec.package}'s files belong in {folder}"


def test_the_gateway_routes_exactly_the_registry_packages() -> None:
    """Every package with REST bindings is a service's, and every gRPC route
    goes to the cluster of the service whose package it is."""
    assert "upstreams" not in tomllib.loads(GATEWAY_SOURCE.read_text())
    source = GatewaySource.load()
    assert source.upstream_packages == {spec.name: spec.package for spec in SERVICES}

    config = render(kubernetes_gateway_target(), source)
    clusters = {c["name"] for c in config["static_resources"]["clusters"]}
    assert clusters - {"unrouted"} == {spec.name for spec in SERVICES}
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    routes = manager["typed_config"]["route_config"]["virtual_hosts"][0]["routes"]
    routed: dict[str, set[str]] = {}
    for route in routes:
        prefix = route["match"].get("prefix", "/")
        if prefix != "/":
            package = prefix.strip("/").rpartition(".")[0]
            routed.setdefault(package, set()).add(route["route"]["cluster"])
    by_package = {spec.package: spec.name for spec in SERVICES}
    assert {p: {by_package.get(p, "?")} for p in routed} == routed

    # Read apart from the gateway's own reading, which only looks at the
    # registry's packages: REST in a package no entry names would go unserved.
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes()).file
    with_rest = {
        file.package
        for file in files
        if file.package.startswith("billingos.")
        for service in file.service
        if not service.name.endswith("AdminService")
        for method in service.method
        if method.options.HasExtension(annotations_pb2.http)
    }
    assert set(routed) == with_rest, "REST bindings in a package no service of services.toml has"


# --- deploy/ -------------------------------------------------------------------


def test_the_service_manifests_are_generated_and_current() -> None:
    stale = [
        str(path.relative_to(REPO_ROOT))
        for path, content in service_manifests().items()
        if not path.exists() or path.read_bytes() != content
    ]
    stale += [f"{path.relative_to(REPO_ROOT)} (not generated)" for path in leftover_manifests()]
    assert stale == [], f"run ./billingos gen; stale: {stale}"


def test_the_base_includes_the_services_folder_once() -> None:
    base = yaml.safe_load((DEPLOY_DIR / "base" / "kustomization.yaml").read_text())
    resources: list[str] = base["resources"]
    services = SERVICES_DEPLOY_DIR.relative_to(DEPLOY_DIR / "base").as_posix()
    assert services in resources
    assert [r for r in resources if r.startswith(f"{services}/")] == [], (
        "deploy/base/services/kustomization.yaml lists every service; name none in the base"
    )


# --- the registry itself -------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ('name = "Billing"', "name"),
        ('name = "a-b"', "name"),
        ('name = "unrouted"', "reserved"),
        ('name = "nats"', "reserved"),
        ('package = "customers"', "package"),
        ('schema = "Customers"', "schema"),
        ("port = 80", "port"),
        ('port = "50061"', "port"),
        ('extra = "x"', "keys"),
    ],
)
def test_a_bad_entry_is_refused_with_its_key(tmp_path: Path, entry: str, complaint: str) -> None:
    fields = {
        "name": '"x"',
        "package": '"billingos.x.v1"',
        "schema": '"x"',
        "port": "50070",
    }
    key = entry.split(" ", 1)[0]
    lines = [f"{k} = {v}" for k, v in fields.items() if k != key] + [entry]
    registry = tmp_path / "services.toml"
    registry.write_text("[[service]]\n" + "\n".join(lines) + "\n")
    with pytest.raises(RegistryError, match=complaint):
        load_registry(registry)


def test_two_services_cannot_share_a_port(tmp_path: Path) -> None:
    registry = tmp_path / "services.toml"
    registry.write_text(
        "\n".join(
            f'[[service]]\nname = "{n}"\npackage = "billingos.{n}.v1"\nschema = "{n}"\nport = 50070'
            for n in ("a", "b")
        )
    )
    with pytest.raises(RegistryError, match="port"):
        load_registry(registry)


def test_the_key_owner_comes_first(tmp_path: Path) -> None:
    """Every other service checks API keys with it, so it must be up first."""
    registry = tmp_path / "services.toml"
    registry.write_text(
        "\n".join(
            f'[[service]]\nname = "{n}"\npackage = "billingos.{n}.v1"\nschema = "{n}"\nport = {p}'
            for n, p in (("catalog", 50071), ("customers", 50072))
        )
    )
    with pytest.raises(RegistryError, match="'customers' must come first"):
        load_registry(registry)

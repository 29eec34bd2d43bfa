"""Generates everything derived from `protos/`: Python stubs with type stubs (and
TypeScript and Go stubs: stubgen.py), the
descriptor set Envoy's transcoder loads, and the OpenAPI document; and the
deploy/ files derived from them, gateway/, the front end's build (web/) and
the service registry (services.toml): the gateway's config, the copy of the
front end it serves and every service's manifests.

One command (`./billingos gen`) writes them; `./billingos gen --check` regenerates
into a scratch folder and fails on any difference, which the test suite runs so
stale generated code cannot land.
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2

from billingos_cli.paths import (
    DEPLOY_DIR,
    DESCRIPTOR_SET,
    GEN_DIR,
    OPENAPI_FILE,
    PROTOS_DIR,
    WEB_DIST,
)
from billingos_cli.stubgen import LANGUAGES, REQUIRE_TOOLCHAINS_ENV, toolchains_required
from billingos_cli.web import built_files, ensure_built, reading_build

# Not imported by any of our protos, but the transcoder needs them in the
# descriptor set to render `google.rpc.Status` details as JSON.
_EXTRA_DESCRIPTOR_FILES = ("google/rpc/error_details.proto", "google/rpc/status.proto")


@dataclass(frozen=True)
class ProtoToolchain:
    """The include paths and plugins protoc needs, found in this virtualenv."""

    googleapis_root: Path
    wellknown_root: Path
    bin_dir: Path

    @classmethod
    def discover(cls) -> ProtoToolchain:
        import google.api
        import grpc_tools

        googleapis_root = Path(next(iter(google.api.__path__))).parents[1]
        wellknown_root = Path(grpc_tools.__file__).parent / "_proto"
        return cls(googleapis_root, wellknown_root, Path(sys.executable).parent)

    def protoc(self, args: list[str]) -> None:
        command = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTOS_DIR}",
            f"-I{self.googleapis_root}",
            f"-I{self.wellknown_root}",
            *args,
        ]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"protoc failed:\n{result.stderr}")


def our_proto_files() -> list[str]:
    """Proto files relative to `protos/`, sorted so output is reproducible."""
    return sorted(str(p.relative_to(PROTOS_DIR)) for p in PROTOS_DIR.rglob("*.proto"))


def generate_into(out_root: Path) -> dict[str, str]:
    """Writes the full generated tree (python/, descriptors/, openapi/, and the
    other languages' stubs whose generators are here) under `out_root`;
    returns, by language, why each one it could not generate was left out."""
    toolchain = ProtoToolchain.discover()
    files = our_proto_files()
    python_out = out_root / "python"
    python_out.mkdir(parents=True)
    toolchain.protoc(
        [
            f"--python_out={python_out}",
            f"--grpc_python_out={python_out}",
            f"--plugin=protoc-gen-mypy={toolchain.bin_dir / 'protoc-gen-mypy'}",
            f"--plugin=protoc-gen-mypy_grpc={toolchain.bin_dir / 'protoc-gen-mypy_grpc'}",
            f"--mypy_out={python_out}",
            f"--mypy_grpc_out={python_out}",
            *files,
        ]
    )
    _add_package_markers(python_out / "billingos")

    descriptor = out_root / DESCRIPTOR_SET.relative_to(GEN_DIR)
    descriptor.parent.mkdir(parents=True)
    toolchain.protoc(
        [
            f"--descriptor_set_out={descriptor}",
            "--include_imports",
            "--include_source_info",
            *files,
            *_EXTRA_DESCRIPTOR_FILES,
        ]
    )

    openapi = out_root / OPENAPI_FILE.relative_to(GEN_DIR)
    openapi.parent.mkdir(parents=True)
    from billingos_cli.openapi import write_openapi

    write_openapi(descriptor, openapi)

    descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(descriptor.read_bytes())
    skipped: dict[str, str] = {}
    for language in LANGUAGES:
        why = language.unavailable()
        if why is not None:
            skipped[language.name] = why
            continue
        language.write(toolchain, out_root, files, descriptor_set)
    return skipped


def _generated_subdirs(skipped: dict[str, str]) -> list[str]:
    """The subdirectories of gen/ this generation wrote."""
    return [*_GENERATED_SUBDIRS] + [
        language.subdir for language in LANGUAGES if language.name not in skipped
    ]


def _warn(skipped: dict[str, str]) -> None:
    if skipped and toolchains_required():
        raise SystemExit(
            f"billingos gen: {REQUIRE_TOOLCHAINS_ENV} is set and a stub generator is missing: "
            + "; ".join(skipped.values())
        )
    for why in skipped.values():
        print(f"billingos gen: left as committed, not checked: {why}", file=sys.stderr)


def _add_package_markers(package_root: Path) -> None:
    for folder in [package_root, *(p for p in package_root.rglob("*") if p.is_dir())]:
        (folder / "__init__.py").touch()
        (folder / "py.typed").touch()


_GENERATED_SUBDIRS = ("python/billingos", "descriptors", "openapi")


def generate() -> None:
    """Regenerates `gen/` in place, then the deploy files derived from it;
    removes service manifests the registry no longer produces and front-end
    files the build no longer has."""
    from billingos_cli.manifests import leftover_manifests

    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "gen"
        skipped = generate_into(fresh)
        _warn(skipped)
        for sub in _generated_subdirs(skipped):
            target = GEN_DIR / sub
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(fresh / sub, target)
    files = deploy_files()
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    for path in leftover_manifests() + leftover_web_files(files):
        path.unlink()
        if not any(path.parent.iterdir()):
            path.parent.rmdir()


def deploy_files() -> dict[Path, bytes]:
    """What `deploy/` holds that is derived from protos, gateway/, web/ and
    the service registry: the descriptor set, OpenAPI and front-end copies
    (kustomize cannot read outside its folder), the Kubernetes gateway config
    and every service's manifests. Where the front end cannot be built (no
    npm), its copy is left as committed and the config serves that copy."""
    import yaml

    from billingos_cli.gateway import render
    from billingos_cli.kubernetes import WEB_COPY_FILES, kubernetes_gateway_target
    from billingos_cli.manifests import service_manifests

    gateway = DEPLOY_DIR / "base" / "gateway"
    built = _build_web()
    # The copy and the config that names its files, from one state of the build.
    with reading_build():
        web_copy = _web_copy() if built else None
        build = WEB_DIST if web_copy is not None else WEB_COPY_FILES
        config = yaml.safe_dump(render(kubernetes_gateway_target(build)), sort_keys=False)
    return {
        gateway / "billingos.binpb": DESCRIPTOR_SET.read_bytes(),
        gateway / "billingos.openapi.json": OPENAPI_FILE.read_bytes(),
        gateway / "envoy.yaml": config.encode(),
        **(web_copy or {}),
        **service_manifests(),
    }


def _build_web() -> bool:
    """Builds web/ if it is stale; False (with a message) where it cannot be
    built here, which CI's BILLINGOS_REQUIRE_STUB_TOOLCHAINS makes an error."""
    why = ensure_built()
    if why is None:
        return True
    if toolchains_required():
        raise SystemExit(f"billingos gen: {REQUIRE_TOOLCHAINS_ENV} is set: {why}")
    print(f"billingos gen: left as committed, not checked: {why}", file=sys.stderr)
    return False


def _web_copy() -> dict[Path, bytes]:
    """web/dist as deploy/base/gateway/web/ holds it: its files and their
    kustomization."""
    from billingos_cli.kubernetes import WEB_COPY, WEB_COPY_FILES, web_kustomization

    built = [path for _, path in built_files(WEB_DIST)]
    files = {WEB_COPY_FILES / path.relative_to(WEB_DIST): path.read_bytes() for path in built}
    names = [path.relative_to(WEB_DIST).as_posix() for path in built]
    files[WEB_COPY / "kustomization.yaml"] = web_kustomization(names).encode()
    return files


def leftover_web_files(generated: dict[Path, bytes]) -> list[Path]:
    """Files of the front-end copy that a fresh build no longer has (an
    asset's old hashed name); none known where the copy was not generated."""
    from billingos_cli.kubernetes import WEB_COPY

    if not any(path.is_relative_to(WEB_COPY) for path in generated) or not WEB_COPY.is_dir():
        return []
    return sorted(p for p in WEB_COPY.rglob("*") if p.is_file() and p not in generated)


def stale_deploy_files() -> list[str]:
    """Paths under deploy/ that differ from what gen writes, or that it would
    remove (a service no longer in the registry); empty when current."""
    from billingos_cli.manifests import leftover_manifests

    root = DEPLOY_DIR.parent
    files = deploy_files()
    found = [
        f"{path.relative_to(root)} ({'changed' if path.exists() else 'missing'})"
        for path, content in files.items()
        if not path.exists() or path.read_bytes() != content
    ]
    leftovers = leftover_manifests() + leftover_web_files(files)
    return found + [f"{path.relative_to(root)} (not generated)" for path in leftovers]


def stale_files() -> list[str]:
    """Paths under gen/ and deploy/ that differ from a fresh generation (empty
    when current)."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "gen"
        skipped = generate_into(fresh)
        _warn(skipped)
        differences: list[str] = []
        for sub in _generated_subdirs(skipped):
            differences += _compare(fresh / sub, GEN_DIR / sub, sub)
    return differences + stale_deploy_files()


def _compare(fresh: Path, committed: Path, label: str) -> list[str]:
    if not committed.exists():
        return [f"{label} (missing)"]
    comparison = filecmp.dircmp(fresh, committed, ignore=["__pycache__"])
    return _walk_differences(comparison, label)


def _walk_differences(comparison: filecmp.dircmp[str], label: str) -> list[str]:
    found = [f"{label}/{name} (changed)" for name in comparison.diff_files]
    found += [f"{label}/{name} (missing)" for name in comparison.left_only]
    found += [f"{label}/{name} (not generated)" for name in comparison.right_only]
    # dircmp compares shallowly (size + mtime); confirm byte by byte.
    for name in comparison.same_files:
        left = Path(comparison.left) / name
        right = Path(comparison.right) / name
        if left.read_bytes() != right.read_bytes():
            found.append(f"{label}/{name} (changed)")
    for name, sub in comparison.subdirs.items():
        found += _walk_differences(sub, f"{label}/{name}")
    return found

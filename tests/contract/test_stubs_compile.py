"""The TypeScript and Go stubs in gen/ compile: what `./billingos gen` wrote
(test_protos.py checks it is current) is code a TypeScript or Go caller can
build. Each is skipped, saying what to install, where its toolchain is not
on the machine; CI installs both and sets BILLINGOS_REQUIRE_STUB_TOOLCHAINS
(.ci/run), which makes a missing one a failure."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from billingos_cli.node import ensure_installed
from billingos_cli.paths import DESCRIPTOR_SET, GEN_DIR
from billingos_cli.stubgen import (
    GO_MODULE,
    REQUIRE_TOOLCHAINS_ENV,
    TYPESCRIPT_PACKAGE,
    toolchains_required,
)

pytestmark = pytest.mark.contract

# Debian's Go libraries, laid out for GOPATH builds: the only way to build
# offline (no module proxy is reachable here).
DEBIAN_GOCODE = Path("/usr/share/gocode")
GO_LIBRARIES = (
    "google.golang.org/grpc",
    "google.golang.org/protobuf",
    "google.golang.org/genproto",
)
BUILD_TIMEOUT_SECONDS = 600


def _skip_unless_required(why: str) -> None:
    if toolchains_required():
        pytest.fail(f"{REQUIRE_TOOLCHAINS_ENV} is set, and {why}")
    pytest.skip(why)


def test_typescript_stubs_type_check() -> None:
    why = ensure_installed(TYPESCRIPT_PACKAGE)
    if why is not None:
        _skip_unless_required(f"TypeScript stubs not compiled: {why}")
    tsc = TYPESCRIPT_PACKAGE / "node_modules" / ".bin" / "tsc"
    checked = subprocess.run(
        [str(tsc), "-p", "tsconfig.json"],
        cwd=TYPESCRIPT_PACKAGE,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _our_services() -> list[str]:
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes()).file
    return sorted(
        service.name
        for file in files
        if file.package.startswith("billingos.")
        for service in file.service
    )


def test_typescript_stubs_cover_every_service() -> None:
    generated = "\n".join(p.read_text() for p in (TYPESCRIPT_PACKAGE / "src").rglob("*_pb.ts"))
    services = _our_services()
    assert len(services) > 20
    for name in services:
        assert f"export const {name}: GenService<" in generated, name


def test_go_stubs_build(tmp_path: Path) -> None:
    go = shutil.which("go")
    missing = [lib for lib in GO_LIBRARIES if not (DEBIAN_GOCODE / "src" / lib).is_dir()]
    if go is None or missing:
        _skip_unless_required(
            "Go stubs not built: "
            + (
                "no Go toolchain"
                if go is None
                else f"no {', '.join(missing)} under {DEBIAN_GOCODE}"
            )
            + " (Debian: apt-get install golang-go golang-google-grpc-dev "
            "golang-google-protobuf-dev golang-google-genproto-dev)"
        )
    # A GOPATH whose source tree holds gen/go at its import path, beside Debian's.
    workspace = tmp_path / "gopath"
    shutil.copytree(GEN_DIR / "go", workspace / "src" / GO_MODULE)
    built = subprocess.run(
        [go, "build", f"{GO_MODULE}/..."],
        cwd=workspace,
        env={
            **os.environ,
            "GO111MODULE": "off",
            "GOPATH": f"{workspace}{os.pathsep}{DEBIAN_GOCODE}",
            "GOFLAGS": "",
            # GOCACHE stays the user's: Debian's grpc and protobuf are then
            # compiled once per machine, not on every run.
        },
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    generated = "\n".join(p.read_text() for p in (GEN_DIR / "go").rglob("*_grpc.pb.go"))
    for name in _our_services():
        assert f"func New{name}Client(" in generated, name

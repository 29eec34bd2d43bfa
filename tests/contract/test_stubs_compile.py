"""The TypeScript and Go stubs in gen/ compile: what `./billingos gen` wrote
(test_protos.py checks it is current) is code a TypeScript or Go caller can
build. Each is skipped, saying what to install, where its toolchain is not
on the machine; CI installs both (.ci/run)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from billingos_cli.paths import GEN_DIR
from billingos_cli.stubgen import GO_MODULE, TYPESCRIPT_PACKAGE

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


def test_typescript_stubs_type_check() -> None:
    tsc = TYPESCRIPT_PACKAGE / "node_modules" / ".bin" / "tsc"
    if not tsc.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("TypeScript stubs not compiled: npm is not on PATH (install Node.js 20+)")
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=TYPESCRIPT_PACKAGE,
            check=True,
            timeout=BUILD_TIMEOUT_SECONDS,
        )
    checked = subprocess.run(
        [str(tsc), "-p", "tsconfig.json"],
        cwd=TYPESCRIPT_PACKAGE,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_typescript_stubs_cover_every_service() -> None:
    generated = "\n".join(p.read_text() for p in (TYPESCRIPT_PACKAGE / "src").rglob("*_pb.ts"))
    for name in ("CustomerService", "EntitlementService", "MeterService", "SubscriptionService"):
        assert f"export const {name}: GenService<" in generated, name


def test_go_stubs_build(tmp_path: Path) -> None:
    go = shutil.which("go")
    missing = [lib for lib in GO_LIBRARIES if not (DEBIAN_GOCODE / "src" / lib).is_dir()]
    if go is None or missing:
        pytest.skip(
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
            "GOCACHE": str(tmp_path / "cache"),
            "GOFLAGS": "",
        },
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    services = "\n".join(p.read_text() for p in (GEN_DIR / "go").rglob("*_grpc.pb.go"))
    assert "func NewCustomerServiceClient(" in services

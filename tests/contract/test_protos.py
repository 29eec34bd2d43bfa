"""The protos are the contract: generated code is current, `buf lint` is clean,
and the API stays compatible with what is committed (`buf breaking`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from billingos_cli import protogen
from billingos_cli.paths import DESCRIPTOR_SET, REPO_ROOT
from billingos_kit.local import venv_binary

pytestmark = pytest.mark.contract


@pytest.fixture(scope="module")
def fresh_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A descriptor image of the working tree's protos, built with protoc."""
    out = tmp_path_factory.mktemp("image") / "image.binpb"
    protogen.ProtoToolchain.discover().protoc(
        [
            f"--descriptor_set_out={out}",
            "--include_imports",
            "--include_source_info",
            *protogen.our_proto_files(),
        ]
    )
    return out


def buf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(venv_binary("buf")), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_generated_code_is_current() -> None:
    stale = protogen.stale_files()
    assert stale == [], f"run ./billingos gen; stale: {stale}"


def test_buf_lint_is_clean(fresh_image: Path) -> None:
    result = buf("lint", f"{fresh_image}#format=binpb", "--path", "billingos")
    assert result.returncode == 0, result.stdout + result.stderr


def test_api_is_compatible_with_the_committed_descriptors(
    fresh_image: Path, tmp_path: Path
) -> None:
    """Against HEAD's committed descriptor set; `./billingos protos breaking`-style
    checks against another ref can pass BILLINGOS_BREAKING_AGAINST=<git ref>."""
    ref = os.environ.get("BILLINGOS_BREAKING_AGAINST", "HEAD")
    relative = DESCRIPTOR_SET.relative_to(REPO_ROOT).as_posix()
    shown = subprocess.run(
        ["git", "show", f"{ref}:{relative}"], cwd=REPO_ROOT, capture_output=True, check=False
    )
    if shown.returncode != 0:
        pytest.skip(f"no committed descriptor set at {ref} to compare with")
    baseline = tmp_path / "baseline.binpb"
    baseline.write_bytes(shown.stdout)
    result = buf(
        "breaking",
        f"{fresh_image}#format=binpb",
        "--against",
        f"{baseline}#format=binpb",
        "--path",
        "billingos",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_catches_a_bad_proto(tmp_path: Path) -> None:
    """The lint gate can fail: an enum without an UNSPECIFIED zero value is reported."""
    package = tmp_path / "billingos" / "probe" / "v1"
    package.mkdir(parents=True)
    (package / "probe.proto").write_text(
        'syntax = "proto3";\npackage billingos.probe.v1;\n'
        "// A probe.\nenum Color {\n  // Red.\n  RED = 0;\n}\n"
    )
    image = tmp_path / "probe.binpb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{tmp_path}",
            f"--descriptor_set_out={image}",
            "--include_source_info",
            "billingos/probe/v1/probe.proto",
        ],
        check=True,
        cwd=REPO_ROOT,
    )
    result = buf("lint", f"{image}#format=binpb", "--path", "billingos")
    assert result.returncode != 0
    assert "UNSPECIFIED" in result.stdout

"""gRPC stubs for languages other than Python, generated with the Python ones
by `./billingos gen`: TypeScript (protobuf-es messages and service
descriptors, which Connect's clients take) and Go (protoc-gen-go and
protoc-gen-go-grpc).

Their generators are not Python packages: protoc-gen-es comes from the npm
registry, pinned in gen/typescript/package-lock.json (gen installs it there
when npm is on PATH), and the Go plugins from Debian's packages
(`protoc-gen-go`, `protoc-gen-go-grpc`). Where one is missing, that
language's committed output is left as it is and its staleness is not
checked, with a message that says what to install; CI installs both
(.ci/run), so what lands is checked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from google.protobuf import descriptor_pb2

from billingos_cli.node import ensure_installed
from billingos_cli.paths import GEN_DIR

TYPESCRIPT_PACKAGE = GEN_DIR / "typescript"
GO_MODULE = "github.com/billingos/billingos/gen/go"
# What each Go plugin prints for --version (Debian 12's packages).
GO_PLUGINS = {
    "protoc-gen-go": "protoc-gen-go v1.28.1",
    "protoc-gen-go-grpc": "protoc-gen-go-grpc 1.0",
}
# Set by CI: a language that cannot be generated or compiled is a failure
# there, not a skip.
REQUIRE_TOOLCHAINS_ENV = "BILLINGOS_REQUIRE_STUB_TOOLCHAINS"


class Protoc(Protocol):
    def protoc(self, args: list[str]) -> None: ...


@dataclass(frozen=True)
class StubLanguage:
    """One language's stubs: where they go under gen/ and how they are made."""

    name: str
    subdir: str  # under gen/, regenerated whole
    unavailable: Callable[[], str | None]  # why it cannot be generated here, or None
    write: Callable[[Protoc, Path, Sequence[str], descriptor_pb2.FileDescriptorSet], None]


def _typescript_plugin() -> Path:
    return TYPESCRIPT_PACKAGE / "node_modules" / ".bin" / "protoc-gen-es"


def _typescript_unavailable() -> str | None:
    why = ensure_installed(TYPESCRIPT_PACKAGE)
    if why is not None:
        return f"TypeScript stubs: {why}"
    if not _typescript_plugin().exists():
        return "TypeScript stubs: gen/typescript's lock installs no protoc-gen-es"
    return None


def _imported_non_wellknown(
    files: Sequence[str], descriptor_set: descriptor_pb2.FileDescriptorSet
) -> list[str]:
    """The googleapis files ours import (google/api, google/rpc): protobuf-es
    ships the well-known types, not these, so they are generated beside ours."""
    ours = set(files)
    return sorted(
        file.name
        for file in descriptor_set.file
        if file.name not in ours and not file.name.startswith("google/protobuf/")
    )


def _write_typescript(
    toolchain: Protoc,
    out_root: Path,
    files: Sequence[str],
    descriptor_set: descriptor_pb2.FileDescriptorSet,
) -> None:
    out = out_root / "typescript" / "src"
    out.mkdir(parents=True)
    toolchain.protoc(
        [
            f"--plugin=protoc-gen-es={_typescript_plugin()}",
            f"--es_out={out}",
            # .ts sources with ESM import paths ending in .js (NodeNext).
            "--es_opt=target=ts,import_extension=js",
            *files,
            *_imported_non_wellknown(files, descriptor_set),
        ]
    )


def _go_unavailable() -> str | None:
    """None when the pinned Go plugins are on PATH: another version writes
    other code (a version header at least), which `gen --check` would then
    call stale on one machine and current on the next."""
    for name, version in GO_PLUGINS.items():
        found = shutil.which(name)
        if found is None:
            return (
                f"Go stubs: {name} is not on PATH "
                "(Debian 12: apt-get install protoc-gen-go protoc-gen-go-grpc)"
            )
        printed = subprocess.run(
            [found, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout.strip()
        if printed != version:
            return f"Go stubs: {name} is {printed!r}; the committed stubs come from {version!r}"
    return None


def go_import_path(proto_file: str) -> str:
    """`billingos/customers/v1/x.proto` → `<module>/billingos/customers/v1;customersv1`."""
    folder = str(Path(proto_file).parent)
    parts = folder.split("/")
    package_name = "".join(parts[1:]) if len(parts) > 1 else parts[0]
    return f"{GO_MODULE}/{folder};{package_name}"


def _write_go(
    toolchain: Protoc,
    out_root: Path,
    files: Sequence[str],
    descriptor_set: descriptor_pb2.FileDescriptorSet,
) -> None:
    out = out_root / "go"
    out.mkdir(parents=True)
    # Our protos name no go_package (they serve every language alike): the
    # import path of each file is given here instead.
    mappings = ",".join(f"M{name}={go_import_path(name)}" for name in files)
    toolchain.protoc(
        [
            f"--plugin=protoc-gen-go={shutil.which('protoc-gen-go')}",
            f"--plugin=protoc-gen-go-grpc={shutil.which('protoc-gen-go-grpc')}",
            f"--go_out={out}",
            f"--go_opt=paths=source_relative,{mappings}",
            f"--go-grpc_out={out}",
            f"--go-grpc_opt=paths=source_relative,{mappings}",
            *files,
        ]
    )


LANGUAGES = (
    StubLanguage("typescript", "typescript/src", _typescript_unavailable, _write_typescript),
    StubLanguage("go", "go", _go_unavailable, _write_go),
)


def toolchains_required() -> bool:
    return os.environ.get(REQUIRE_TOOLCHAINS_ENV, "") not in ("", "0")

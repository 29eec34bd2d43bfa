"""The front end the gateway serves: `web/` (Vite + Preact, its own
package-lock.json) built into `web/dist/` (git-ignored): the pricing table's
script, the hashed assets, and the HTML shells of pages (the hosted
checkout), which the suite's Envoy serves from disk and Kubernetes from the
`gateway-web` ConfigMap (docs/frontend.md).

`ensure_built` builds once per state of the sources and lock: `npm ci
--ignore-scripts` (billingos_cli.node), then `npm run build`, then a stamp of
what was built, so `./billingos up` costs nothing when nothing changed.
Builds take an exclusive lock and gateways that read the build a shared one:
a build never empties web/dist under an Envoy that is loading it (two suites
on one machine, or a test run beside `./billingos up`).

Without npm the suite runs without the front end (`./billingos up` needs
only Python); the reason is what `ensure_built` returns.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from billingos_cli.gateway import IMMUTABLE_PREFIX, MAX_OPENAPI_BYTES, StaticFile
from billingos_cli.node import ensure_installed
from billingos_cli.pages import PAGE_ROUTES, PageRoute
from billingos_cli.paths import WEB_DIR, WEB_DIST

# What decides the build's output, besides the lock (and so node_modules).
BUILD_INPUTS = ("package.json", "package-lock.json", "tsconfig.json", "vite.config.ts", "src")
STAMP_FILE = ".billingos-build.sha256"  # in dist/; dotfiles are never served
LOCK_FILE = ".billingos-build.lock"
BUILD_TIMEOUT_SECONDS = 300
ASSETS_DIR = "assets"
# HTML shells served at their pages' paths (billingos_cli.pages), never at
# a path of their own.
PAGES_DIR = "pages"
# Each file is a direct response, held in Envoy's memory.
MAX_FILE_BYTES = MAX_OPENAPI_BYTES


def source_digest(web_dir: Path = WEB_DIR) -> str:
    """A digest of every build input's path and bytes."""
    digest = hashlib.sha256()
    for name in BUILD_INPUTS:
        root = web_dir / name
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for path in files:
            digest.update(path.relative_to(web_dir).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() if path.exists() else b"(missing)")
            digest.update(b"\0")
    return digest.hexdigest()


@contextmanager
def _locked(web_dir: Path, operation: int) -> Iterator[None]:
    with (web_dir / LOCK_FILE).open("a") as lock:
        fcntl.flock(lock, operation)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def reading_build(web_dir: Path = WEB_DIR) -> Iterator[None]:
    """Held while a gateway lists and loads the build: no build runs then."""
    with _locked(web_dir, fcntl.LOCK_SH):
        yield


def is_current(web_dir: Path = WEB_DIR) -> bool:
    stamp = web_dir / "dist" / STAMP_FILE
    return stamp.exists() and stamp.read_text().strip() == source_digest(web_dir)


def ensure_built(web_dir: Path = WEB_DIR, *, force: bool = False) -> str | None:
    """Builds `web_dir` into its dist/ unless the build is current; returns
    why it could not (npm missing, install or build failed), or None."""
    with _locked(web_dir, fcntl.LOCK_EX):
        if not force and is_current(web_dir):
            return None
        why = ensure_installed(web_dir)
        if why is not None:
            return f"the front end (web/): {why}"
        npm = shutil.which("npm")
        if npm is None:  # ensure_installed found it; PATH changed since
            return "the front end (web/): npm is not on PATH (install Node.js 20.19 or later)"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BILLINGOS_")}
        env.update(NO_COLOR="1", NPM_CONFIG_UPDATE_NOTIFIER="false", NPM_CONFIG_FUND="false")
        built = subprocess.run(
            [npm, "run", "--silent", "build"],
            cwd=web_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_SECONDS,
            check=False,
        )
        if built.returncode != 0:
            output = (built.stdout + built.stderr)[-3000:]
            return f"the front end (web/): `npm run build` failed:\n{output}"
        (web_dir / "dist" / STAMP_FILE).write_text(source_digest(web_dir) + "\n")
        return None


def built_files(dist: Path = WEB_DIST) -> list[tuple[str, Path]]:
    """(route, file) for every file of a build: a top-level file at `/<name>`,
    one in assets/ at `/assets/<name>`, a page in pages/ at its PageRoute's
    paths (the route then says which). Dotfiles (the stamp) are not served;
    a file anywhere else, a page no route is known for, or a file too large
    for a direct response is an error (nothing is served by accident)."""
    return [(route, path) for route, path, _ in _listed(dist)]


def _listed(dist: Path) -> list[tuple[str, Path, PageRoute | None]]:
    if not dist.is_dir():
        return []
    found: list[tuple[str, Path, PageRoute | None]] = []
    for path in sorted(dist.rglob("*")):
        relative = path.relative_to(dist)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        page: PageRoute | None = None
        if len(relative.parts) == 1:
            route = f"/{relative.name}"
        elif len(relative.parts) == 2 and relative.parts[0] == ASSETS_DIR:
            route = f"{IMMUTABLE_PREFIX}{relative.name}"
        elif len(relative.parts) == 2 and relative.parts[0] == PAGES_DIR:
            page = PAGE_ROUTES.get(relative.name)
            if page is None:
                raise ValueError(f"{path}: no page route is known for it (billingos_cli.pages)")
            route = ", ".join(page.templates)
        else:
            raise ValueError(f"{path}: only the build's top files, assets/ and pages/ are served")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"{path}: over {MAX_FILE_BYTES} bytes, too large to serve")
        found.append((route, path, page))
    return found


def served_files(dist: Path = WEB_DIST, *, mounted_at: str | None = None) -> tuple[StaticFile, ...]:
    """The build as the gateway serves it. Envoy reads each file where it is
    (`./billingos up`, the tests), or, with `mounted_at`, from one flat
    directory holding every file by its name (the gateway-web ConfigMap in
    Kubernetes: a ConfigMap's keys have no folders)."""
    files = _listed(dist)
    if mounted_at is None:
        return tuple(StaticFile(route, str(path), page) for route, path, page in files)
    names = [path.name for _, path, _ in files]
    clashing = sorted({name for name in names if names.count(name) > 1})
    if clashing:
        raise ValueError(f"{dist}: {', '.join(clashing)}: two files of one name")
    return tuple(
        StaticFile(route, f"{mounted_at}/{path.name}", page) for route, path, page in files
    )

"""Node packages the repository builds with (gen/typescript's stub generator
and compiler, the TypeScript SDK): installed from their lock files, once per
lock.

`npm ci --ignore-scripts`: exactly the locked versions, and no package's
install script runs (none of ours needs one, and a script is code from the
registry running on a developer's machine). A stamp of the lock's hash in
node_modules tells whether the installed tree is the locked one, so a lock
bump reinstalls and an unchanged lock costs nothing.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

LOCK_FILE = "package-lock.json"
STAMP_FILE = ".billingos-lock.sha256"
INSTALL_TIMEOUT_SECONDS = 300


def lock_digest(package_dir: Path) -> str:
    return hashlib.sha256((package_dir / LOCK_FILE).read_bytes()).hexdigest()


def ensure_installed(package_dir: Path) -> str | None:
    """Installs `package_dir`'s locked dependencies unless they already are;
    returns why it could not (npm missing, the install failed), or None."""
    stamp = package_dir / "node_modules" / STAMP_FILE
    digest = lock_digest(package_dir)
    if stamp.exists() and stamp.read_text().strip() == digest:
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not on PATH (install Node.js 20 or later)"
    installed = subprocess.run(
        [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=package_dir,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
        check=False,
    )
    if installed.returncode != 0:
        return f"`npm ci` in {package_dir.name} failed: {installed.stderr[-500:]}"
    stamp.write_text(digest + "\n")
    return None

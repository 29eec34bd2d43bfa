"""HTTP load from a native client (wrk, from Debian's `wrk` package), for the
benchmarks that measure a REST path's tail.

Why a second client: the Python load generators in bench/ share the two
cores with the suite, and their own scheduling jitter shows in the p99 they
report (Envoy answering a 404 by itself: p99 14.6 ms from aiohttp, 1.2 ms
from wrk, same machine). wrk is closed loop (each connection sends its next
request when the answer arrives), so its figures hold at the rate it reached,
which the result states. Given a rate, requests are paced onto a fixed
schedule (request k is due at k/rate, over `connections` connections; LuaJIT's
ffi reads the monotonic clock): an open loop as long as a connection is free
when a request falls due, which at ~1 ms answers and 4 connections holds. It is
used only where wrk is on PATH.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

WRK = "wrk"
# wrk's script: one path per request, in turn, and the summary as one JSON
# line (wrk's own text rounds the percentiles and hides the error kinds).
_SCRIPT = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *now);
]]
local now_spec = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, now_spec)  -- CLOCK_MONOTONIC
  return tonumber(now_spec.tv_sec) * 1000 + tonumber(now_spec.tv_nsec) / 1e6
end
local interval_ms = %(interval_ms)s
local started_ms = nil
local sent = 0
delay = function()
  if interval_ms <= 0 then return 0 end
  local now = now_ms()
  if started_ms == nil then started_ms = now end
  sent = sent + 1
  local due = started_ms + sent * interval_ms
  if due > now then return math.floor(due - now + 0.5) end
  return 0
end
local paths = {%(paths)s}
local n = 0
%(headers)s
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write("BENCH-JSON " .. string.format(
    '{"requests": %%d, "seconds": %%f, "p50_us": %%d, "p99_us": %%d, "max_us": %%d, '
    .. '"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout) .. "\\n")
end
"""


@dataclass(frozen=True)
class NativeRound:
    """One wrk run over `connections` connections, paced or as fast as answers come."""

    requests: int
    errors: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float


def available() -> bool:
    return shutil.which(WRK) is not None


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII is a valid Lua string


async def run_wrk(
    base_url: str,
    paths: Sequence[str],
    *,
    headers: Mapping[str, str],
    seconds: float,
    connections: int,
    rate: float | None = None,
    expected_status_errors: bool = False,
) -> NativeRound:
    """Runs wrk against `base_url`, cycling through `paths`, paced at `rate`
    requests a second or as fast as answers come; a non-2xx/3xx answer counts
    as an error unless `expected_status_errors` (a 404 floor)."""
    for text in (*paths, *headers.keys(), *headers.values()):
        if not text.isascii() or "\n" in text:
            raise ValueError(f"not a plain ASCII request part: {text!r}")
    script = _SCRIPT % {
        "interval_ms": repr(1000.0 / rate) if rate else "0",
        "paths": ", ".join(map(_lua_string, paths)),
        "headers": "\n".join(
            f"wrk.headers[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items()
        ),
    }
    with tempfile.TemporaryDirectory(prefix="billingos-wrk-") as folder:
        script_path = Path(folder) / "load.lua"
        script_path.write_text(script)
        process = await asyncio.create_subprocess_exec(
            WRK,
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",  # wrk takes whole seconds
            "--timeout",
            "30s",
            "-s",
            str(script_path),
            base_url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed ({process.returncode}): {err.decode()[:500]}")
    for line in out.decode().splitlines():
        if line.startswith("BENCH-JSON "):
            found = json.loads(line.removeprefix("BENCH-JSON "))
            break
    else:
        raise RuntimeError(f"wrk printed no summary: {out.decode()[:500]}")
    kinds = ["connect", "read", "write", "timeout"] + ([] if expected_status_errors else ["status"])
    errors = sum(found[kind] for kind in kinds)
    return NativeRound(
        requests=found["requests"],
        errors=errors,
        seconds=found["seconds"],
        per_second=found["requests"] / found["seconds"],
        p50_ms=found["p50_us"] / 1000,
        p99_ms=found["p99_us"] / 1000,
        max_ms=found["max_us"] / 1000,
    )

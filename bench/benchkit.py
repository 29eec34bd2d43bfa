"""What the benchmarks in bench/ share: latency percentiles, a description of
the machine (results are only comparable on the same one), the gateway
config with the per-address limit lifted, and URL helpers. Imported by the
scripts as a sibling module (they run as `python bench/<name>.py`)."""

from __future__ import annotations

import dataclasses
import os
import platform
import statistics
from collections.abc import Sequence
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

from billingos_cli.gateway import GatewaySource


def percentiles_ms(latencies: Sequence[float]) -> tuple[float, float, float, float]:
    """p50, p95, p99 and mean, in milliseconds, of latencies in seconds."""
    if not latencies:
        return (float("nan"),) * 4
    if len(latencies) == 1:
        only = latencies[0] * 1000
        return only, only, only, only
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return (
        cuts[49] * 1000,
        cuts[94] * 1000,
        cuts[98] * 1000,
        statistics.fmean(latencies) * 1000,
    )


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    versions: dict[str, str] = {}
    for package in ("grpcio", "aiohttp", "asyncpg", "protobuf"):
        try:
            versions[package] = package_metadata.version(package)
        except package_metadata.PackageNotFoundError:
            versions[package] = "?"
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": model,
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": versions,
    }


def filesystem_of(path: Path) -> str:
    """The type of the filesystem holding `path` (Postgres's fsync cost depends on it)."""
    best, kind = "", "?"
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return kind
    target = str(path.resolve())
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount_point = parts[1]
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, kind = mount_point, parts[2]
    return kind


def unlimited_gateway() -> GatewaySource:
    source = GatewaySource.load()
    return dataclasses.replace(
        source,
        limits=dataclasses.replace(source.limits, requests_per_second_per_address=1_000_000),
    )


def plain_postgres_url(url: str) -> str:
    """asyncpg wants `postgresql://`, without SQLAlchemy's `+driver`."""
    scheme, separator, rest = url.partition("://")
    return scheme.split("+", 1)[0] + separator + rest

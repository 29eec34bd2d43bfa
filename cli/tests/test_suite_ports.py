"""The suite plans every service's port before any starts (suite.py's
`_plan_addresses`): nothing listens on a planned port yet, so the free-port
probe may offer it again, and gRPC servers (SO_REUSEPORT) would then share
it and split each other's calls. The probe is stubbed here to force clashes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from billingos_cli import suite as suite_module
from billingos_cli.services import SERVICES
from billingos_cli.suite import DEFAULT_HTTP_PORT, Suite, SuiteOptions

REGISTRY = {spec.name: spec.port for spec in SERVICES}


def make_suite(tmp_path: Path, *, registry_ports: bool, http_port: int = 0) -> Suite:
    options = SuiteOptions(
        state_dir=tmp_path, service_token="s", gateway_token="g", registry_ports=registry_ports
    )
    suite = Suite(options)
    suite._http_port = http_port
    return suite


def probe(ports: Iterable[int]) -> Callable[[], int]:
    """A free-port probe answering `ports` in turn."""
    answers = iter(ports)
    return lambda: next(answers)


def planned_ports(suite: Suite) -> dict[str, int]:
    suite._plan_addresses()
    return {name: int(address.rsplit(":", 1)[1]) for name, address in suite._planned.items()}


def test_a_port_offered_twice_is_planned_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = [40_000 + n for n in range(len(SERVICES))]
    # Each fresh port offered twice in a row, as a probe may before anything binds.
    monkeypatch.setattr(suite_module, "free_port", probe(p for port in fresh for p in (port, port)))
    ports = planned_ports(make_suite(tmp_path, registry_ports=False))
    assert sorted(ports.values()) == fresh
    assert list(ports) == [spec.name for spec in SERVICES]


def test_a_free_pick_is_never_a_registry_port_nor_the_gateways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    offered = [REGISTRY["catalog"], DEFAULT_HTTP_PORT, 41_000, 42_000]
    offered += [*REGISTRY.values(), *(43_000 + n for n in range(len(SERVICES)))]
    monkeypatch.setattr(suite_module, "free_port", probe(offered))
    ports = planned_ports(make_suite(tmp_path, registry_ports=False, http_port=42_000))
    assert ports["customers"] == 41_000
    assert len(set(ports.values())) == len(SERVICES)
    assert not set(ports.values()) & {*REGISTRY.values(), DEFAULT_HTTP_PORT, 42_000}


def test_with_registry_ports_another_service_keeps_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first service's registry port is busy: its free pick must not be
    the catalog's registry port, which the catalog is about to take."""
    busy = REGISTRY["customers"]
    monkeypatch.setattr(suite_module, "port_is_free", lambda port: port != busy)
    monkeypatch.setattr(suite_module, "free_port", probe([REGISTRY["catalog"], busy, 44_000]))
    ports = planned_ports(make_suite(tmp_path, registry_ports=True))
    assert ports == {**REGISTRY, "customers": 44_000}


def test_a_probe_that_only_offers_clashes_fails_loudly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(suite_module, "free_port", lambda: 45_000)
    with pytest.raises(RuntimeError, match="no free port"):
        planned_ports(make_suite(tmp_path, registry_ports=False))

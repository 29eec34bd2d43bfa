"""The command line every service shares: `python -m billingos_<context> serve`
(the default), `... migrate`, or `... reseed-state` (publish the current state
of every entity whose state the latest-state stream lacks; see snapshot.py),
so deployments run all six the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
from collections.abc import Callable
from pathlib import Path

from billingos_kit.logging import configure_logging
from billingos_kit.migrations import upgrade_to_head
from billingos_kit.server import ServiceApp
from billingos_kit.settings import ServiceSettings

log = logging.getLogger(__name__)


def run_service(
    settings_type: type[ServiceSettings],
    build_app: Callable[[ServiceSettings], ServiceApp],
    migrations_dir: Path,
    argv: list[str] | None = None,
) -> None:
    """Entry point of a service's `__main__`."""
    parser = argparse.ArgumentParser(prog=f"billingos-{settings_type.service_name}")
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "migrate", "reseed-state"]
    )
    args = parser.parse_args(argv)
    settings = settings_type()
    configure_logging(settings_type.service_name, settings.log_level)
    if args.command == "migrate":
        upgrade_to_head(migrations_dir, settings.database_url)
        log.info("migrations applied")
        return
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        if args.command == "reseed-state":
            count = runner.run(build_app(settings).reseed_state())
            log.info("state stream reseeded", extra={"states": count})
            return
        app = build_app(settings)
        app.add_before_serving(freeze_startup_heap)
        runner.run(app.serve_until_signalled())


def freeze_startup_heap() -> None:
    """Moves every object alive when the process starts serving (modules, protobuf
    descriptors, table metadata, the first load of what it answers from) out
    of the collector's reach.

    Why: a full (generation 2) collection walks every tracked object; with the
    startup heap in it, one took ~100 ms in the entitlements process under
    load: a check in flight then waited that long (bench/entitlements.py's
    p99). Those objects live as long as the process, so scanning them finds
    nothing; a cycle among them that later becomes garbage is the only thing
    left uncollected, and startup makes few such cycles. Only in a service
    process (never in a test process, which starts many apps).
    """
    gc.collect()
    gc.freeze()
    log.info("startup heap frozen", extra={"objects": gc.get_freeze_count()})


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop where it installs (Linux, macOS): measured faster here."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop

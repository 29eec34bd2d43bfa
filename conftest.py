from __future__ import annotations

import os

# Before gRPC is first imported: its fork handlers restart its poller in a
# child between fork and exec, where closing inherited descriptors can make
# that poller abort the child (a server started by a test dies at birth).
# Nothing here forks to go on using gRPC, so the handlers are not wanted.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import pytest

pytest_plugins = ["billingos_kit.testing.plugin"]

# Tests that must run before the others in a whole-suite session.
RUN_FIRST = ("services/payments/", "tests/e2e/test_payments_rest.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The payments service's consumer gives every customer the session has
    announced so far a Stripe customer, in order, before it reaches the one a
    payments test just made (the end-to-end suite's payments process too);
    after the customers tests that backlog is a few thousand calls on the
    stand-in, whose customer list by email is linear. So the payments tests
    run first (the order within each part is kept)."""
    items.sort(key=lambda item: not item.nodeid.startswith(RUN_FIRST))

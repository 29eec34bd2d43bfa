from __future__ import annotations

import pytest

pytest_plugins = ["billingos_kit.testing.plugin"]

# Tests that must run before the others in a whole-suite session.
RUN_FIRST = ("services/payments/",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The payments service's consumer gives every customer the session has
    announced so far a Stripe customer, in order, before it reaches the one a
    payments test just made; after the customers tests that backlog is a few
    thousand Stripe calls on the stand-in. Its tests therefore run first
    (the order within each part is kept)."""
    items.sort(key=lambda item: not item.nodeid.startswith(RUN_FIRST))

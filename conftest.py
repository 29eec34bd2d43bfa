pytest_plugins = ["billingos_kit.testing.plugin"]

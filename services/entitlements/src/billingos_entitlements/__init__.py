"""The entitlements context."""

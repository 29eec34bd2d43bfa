"""The metering context."""

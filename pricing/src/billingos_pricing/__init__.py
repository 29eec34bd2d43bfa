"""Price arithmetic, pure: no I/O, no clock, no database. Every context that
turns a price and a quantity into money (catalog, subscriptions, metering)
calls these functions; none keeps a copy."""

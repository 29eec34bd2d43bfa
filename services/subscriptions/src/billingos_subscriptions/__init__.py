"""The subscriptions context."""

"""Code every Safepath service shares: envelope, event store, relay, inbox, settings, logging."""

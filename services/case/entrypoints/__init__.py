"""HTTP entrypoints of the case service."""

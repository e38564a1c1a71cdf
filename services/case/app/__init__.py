"""The case service's use cases: load, decide and append in one transaction, around the
pure domain; sealing of identifying fields; the list projection; the case read model."""

"""Statistics for the national bodies (docs/statistics.md)."""

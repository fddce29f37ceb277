"""Collectors: read /proc through a ProcRoot and build immutable snapshots."""

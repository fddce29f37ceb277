"""Findings: pure functions from a snapshot to a list of Finding."""

"""Orchestration: the sampler behind the TUI, the box-wide triage, and the one examination of a
process that the TUI, `stucktui report` and the triage share. It calls collect (I/O) and
diagnose (pure rules); the UI and the report only see the model snapshots it returns.
"""

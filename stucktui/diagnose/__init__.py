"""Findings: stucktui names the root cause in plain words.

Pure: rules are functions from a Subject (one process's collected facts) to Findings, and the
engine runs them; nothing here reads /proc or runs a program (stucktui.inspection gathers the
facts and calls in here).

Importing this package loads nothing: the rules load with stucktui.diagnose.engine, which
only the inspection (the sampler's worker thread, `report`) imports.
"""

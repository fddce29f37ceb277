"""Findings: stucktui names the root cause in plain words.

Pure: rules are functions from a Subject (one process's collected facts) to Findings, and the
engine runs them; nothing here reads /proc or runs a program (stucktui.inspection gathers the
facts and calls in here).
"""

from stucktui.diagnose.engine import RULE_IDS, RULES, diagnose, evaluate, sort_findings, subject_of
from stucktui.diagnose.history import History
from stucktui.diagnose.subject import Subject
from stucktui.model.findings import SEVERITIES, Finding, Severity, worst

__all__ = [
    "RULES",
    "RULE_IDS",
    "SEVERITIES",
    "Finding",
    "History",
    "Severity",
    "Subject",
    "diagnose",
    "evaluate",
    "sort_findings",
    "subject_of",
    "worst",
]

"""Findings: stucktui names the root cause in plain words.

Rules are pure functions from a Subject (one process's collected facts) to Findings; nothing
here reads /proc except through stucktui.collect (findings_for, triage).
"""

from stucktui.diagnose.engine import RULE_IDS, RULES, diagnose, evaluate, findings_for, subject_of
from stucktui.diagnose.history import History
from stucktui.diagnose.model import SEVERITIES, Finding, Severity, Subject, sort_findings, worst
from stucktui.diagnose.triage import TriageResult, examine_process, triage, triage_box

__all__ = [
    "RULES",
    "RULE_IDS",
    "SEVERITIES",
    "Finding",
    "History",
    "Severity",
    "Subject",
    "TriageResult",
    "diagnose",
    "evaluate",
    "examine_process",
    "findings_for",
    "sort_findings",
    "subject_of",
    "triage",
    "triage_box",
    "worst",
]

"""Fixtures shared by every test directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Children

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _private_audit_log(monkeypatch, tmp_path_factory):
    """No test writes the real audit log (as root: /var/log/stucktui) or syslog: every action
    a test makes lands in a private file (tests that look at it set their own path)."""
    from stucktui.actions import audit

    monkeypatch.setenv(audit.ENV_AUDIT_LOG, str(tmp_path_factory.mktemp("audit") / "audit.log"))
    monkeypatch.setattr(audit, "syslog_line", lambda line: None)


@pytest.fixture
def children():
    c = Children()
    try:
        yield c
    finally:
        c.end_all()


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES

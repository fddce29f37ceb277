"""The gates that keep the architecture: import contracts (pyproject.toml [tool.importlinter]),
mypy with the project's config, and ruff. The README's test command runs them, and so does CI;
`make check` runs them alone."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed: pip install -e '.[test]'")
    return found


def _run(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_import_contracts_are_kept():
    r = _run(_tool("lint-imports"), "--no-cache")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout or "broken" not in r.stdout.split("Contracts:")[-1]


def test_mypy_finds_no_error():
    r = _run(_tool("mypy"), "--no-incremental", timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]


def test_ruff_lint_and_format_are_clean():
    ruff = _tool("ruff")
    lint = _run(ruff, "check", ".")
    assert lint.returncode == 0, lint.stdout[-4000:]
    fmt = _run(ruff, "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout[-4000:]


def test_modules_stay_small():
    """Modules stay under about 400 lines (the generated syscall table aside)."""
    big = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / "stucktui").rglob("*.py")
        if p.name != "syscall_tables.py" and (n := len(p.read_text().splitlines())) > 420
    }
    assert big == {}

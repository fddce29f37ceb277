"""The README's two commands stay true: CI runs exactly the README's test command."""

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:sh|bash|console)\n(.*?)```", text, re.S)
    return [b.strip() for b in blocks]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    test_cmd = next(c for c in _readme_commands() if "pytest" in c)
    assert test_cmd in ci.splitlines(), "README's test command must appear verbatim in .ci/run"


def test_readme_install_command_starts_stucktui():
    install = next(c for c in _readme_commands() if "pytest" not in c and "pip install" in c)
    assert install.rstrip().endswith("stucktui")

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


def _tracked_text_files():
    import subprocess

    names = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in names:
        path = ROOT / name
        if path.suffix in (".py", ".md", ".toml", ".cfg", ".txt", "") and path.is_file():
            try:
                yield name, path.read_text()
            except UnicodeDecodeError:
                continue


def test_the_repository_stands_alone():
    """Nothing points outside the repository: the incidents and kernel facts the code relies
    on are in docs/, and every section a comment cites exists there."""
    if not (ROOT / ".git").exists():
        import pytest

        pytest.skip("not a git checkout")
    kernel = (ROOT / "docs" / "kernel-notes.md").read_text()
    sections = set(re.findall(r"^#{2,3} ([0-9A-Z]+(?:\.[0-9]+)?)[. ]", kernel, re.M))
    incidents = set(re.findall(r"^## ([1-9])\. ", (ROOT / "docs" / "incidents.md").read_text(), re.M))
    for name, text in _tracked_text_files():
        if name.startswith("docs/"):
            continue
        assert "../" + "shared" not in text, f"{name} points outside the repository"
        if name.endswith(".py"):
            assert not re.search(r"\bnotes [0-9]", text), f"{name} cites notes that are not in the repository"
        for cited in re.findall(r"kernel-notes\.md §([0-9A-Z]+(?:\.[0-9]+)?)", text):
            assert cited in sections, f"{name} cites docs/kernel-notes.md §{cited}, which does not exist"
        for cited in re.findall(r"incidents\.md §([0-9])", text):
            assert cited in incidents, f"{name} cites docs/incidents.md §{cited}, which does not exist"

"""No fixture symlink may point at a real directory: pip's build (setuptools' file finder)
and other tools follow links, and a captured cwd of / made them walk the whole machine."""

import os
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def test_no_fixture_link_resolves_to_a_directory():
    bad = []
    for dirpath, dirnames, filenames in os.walk(FIXTURES):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink() and p.is_dir():
                bad.append(f"{p} -> {os.readlink(p)}")
    assert not bad, bad

"""The data layer, collectors, report and CLI never load textual or rich."""

import subprocess
import sys

import pytest

PURE = [
    "stucktui.procfs",
    "stucktui.procfs.stat",
    "stucktui.procfs.status",
    "stucktui.procfs.cmdline",
    "stucktui.procfs.limits",
    "stucktui.procfs.cgroup",
    "stucktui.procfs.system",
    "stucktui.collect.proclist",
    "stucktui.collect.detail",
    "stucktui.inspection.sampler",
    "stucktui.model.snapshot",
    "stucktui.listing",
    "stucktui.textsafe",
    "stucktui.report",
    "stucktui.cli",
]


@pytest.mark.parametrize("module", PURE)
def test_module_does_not_import_ui_libraries(module):
    code = (
        f"import sys, importlib; importlib.import_module({module!r}); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')); "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "", f"{module} pulled in {out}"


def test_every_procfs_module_is_pure():
    import pkgutil

    import stucktui.procfs as pkg

    names = [f"stucktui.procfs.{m.name}" for m in pkgutil.iter_modules(pkg.__path__)]
    code = (
        "import sys, importlib\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('textual','rich'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == ""

"""Start-up stays light (issue 18, item 6): what `stucktui` runs before the TUI's first paint
(the command line parsed, the app built) imports no collector, rule, report, tool, action or
view the first screen does not show. The sampler's worker thread imports the collection and
the rules with its first sample; ui/preload.py imports the other views once the first refresh
is on screen. Checked in a fresh interpreter, so nothing another test imported hides a
regression."""

import importlib.util
import json
import subprocess
import sys

from stucktui.ui.preload import VIEWS
from tests.fixture_proc import PROC

# `stucktui` as far as the first paint: parse the command line, build the app (not run it)
START = f"""
import json, sys
from stucktui.cli import build_parser
args = build_parser().parse_args([])
from stucktui.ui.app import StuckApp
StuckApp(interval=args.interval, proc={str(PROC)!r}, triage_at_start=True)
print(json.dumps(sorted(sys.modules)))
"""

# packages and modules whose import the start must not pay (prefixes)
NOT_AT_START = (
    "stucktui.collect",  # the sampler's worker thread reads /proc
    "stucktui.diagnose.engine",  # the rules load with the first triage or process
    "stucktui.diagnose.rules",
    "stucktui.diagnose.chains",
    "stucktui.diagnose.subject",
    "stucktui.inspection.examine",
    "stucktui.inspection.triage",
    "stucktui.inspection.suspects",
    "stucktui.report",
    "stucktui.tools",
    "stucktui.actions.closefd",
    "stucktui.actions.signals",
    "stucktui.actions.fdfacts",
    "stucktui.demo",
    "stucktui.incidents",
    "stucktui.model.waits",
    "stucktui.model.context",
    "stucktui.procfs.statx",  # ctypes
    "stucktui.procfs.netlink",
    *VIEWS,
)


def _modules(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    loaded: list[str] = json.loads(out.stdout)
    return loaded


def test_start_up_imports_nothing_the_first_screen_does_not_need():
    loaded = _modules(START)
    assert "stucktui.ui.app" in loaded and "stucktui.inspection.sampler" in loaded
    early = [m for m in loaded if any(m == p or m.startswith(p + ".") for p in NOT_AT_START)]
    assert early == [], f"imported before the first paint: {early}"


def test_the_first_sample_loads_the_collection_and_the_rules():
    """The other half of the bargain: the worker's first sample (here called directly) brings
    in what start-up left out, so the UI thread never imports it."""
    code = f"""
import json, sys
from stucktui.inspection.request import SampleRequest
from stucktui.inspection.sampler import Sampler
Sampler.for_path({str(PROC)!r}).sample(SampleRequest(triage=True))
print(json.dumps(sorted(sys.modules)))
"""
    loaded = _modules(code)
    for m in ("stucktui.collect.proclist", "stucktui.diagnose.engine", "stucktui.inspection.triage"):
        assert m in loaded


def test_preloaded_views_exist():
    """A renamed view would be skipped silently by the preload (it swallows import errors)."""
    assert [v for v in VIEWS if importlib.util.find_spec(v) is None] == []


def test_command_line_parsing_does_not_load_the_actions():
    loaded = _modules(
        "import json, sys\nfrom stucktui.cli import build_parser\nbuild_parser().format_help()\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    assert not [m for m in loaded if m.startswith(("stucktui.actions.closefd", "stucktui.actions.target"))]

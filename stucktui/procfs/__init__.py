"""Pure data layer: parsers of /proc files and one injectable /proc root.

Nothing in this package imports textual or rich (tests/unit/test_layering.py proves it).
"""

from stucktui.procfs.errors import AccessDenied, ProcessGone
from stucktui.procfs.root import PidDir, ProcRoot

__all__ = ["AccessDenied", "PidDir", "ProcRoot", "ProcessGone"]

"""The sick programs of `stucktui demo`, one module per process, each run by file path.

Each program is a real module of the package (checked by ruff and mypy like the rest) and is
started as `python .../stucktui/incidents/NAME.py ARGS`, so ps shows the script's own name; it
imports only the standard library and stucktui.incidents.prelude. Nothing here runs on import.
"""

from __future__ import annotations

import os
import site
import sys
from typing import Literal

# The pid a program must be a child of; it exits at once otherwise (see prelude.setup).
ENV_PARENT = "STUCKTUI_DEMO_PARENT"

Program = Literal[
    "api_service",
    "nginx",
    "idle_server",
    "orders_api",
    "celery_worker",
    "uwsgi",
    "hping3",
    "log_worker",
    "backup",
    "log_shipper",
    "report_exporter",
]

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.dirname(os.path.dirname(_HERE))  # the directory that holds stucktui/


def path(program: Program) -> str:
    """The file of a program, to run by path."""
    return os.path.join(_HERE, program + ".py")


def argv(program: Program, *args: str) -> list[str]:
    """The command line of a program, run by this interpreter."""
    return [sys.executable, path(program), *args]


def environ(parent: int | None = None) -> dict[str, str]:
    """The environment of a program started by `parent` (this process by default). A program
    run by path does not have the current directory on sys.path: unless stucktui is installed
    in site-packages, the directory that holds it goes first on PYTHONPATH (a source checkout
    run as `python -m stucktui`, or an editable install)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env[ENV_PARENT] = str(os.getpid() if parent is None else parent)
    if _ROOT not in {*site.getsitepackages(), site.getusersitepackages()}:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH")) if p)
    return env

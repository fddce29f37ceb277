"""Allows `python -m stucktui`."""

from stucktui.cli import main

raise SystemExit(main())

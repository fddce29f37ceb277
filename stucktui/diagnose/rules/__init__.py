"""The rules, one module per concern; each rule is a function beside its RuleSpec. all_specs()
finds every RuleSpec in these modules, so a new rule module needs no registration."""

from __future__ import annotations

import importlib
import pkgutil

from stucktui.diagnose.spec import RuleSpec


def all_specs() -> tuple[RuleSpec, ...]:
    """Every rule, causes before the symptoms they produce (cause_rank, then id)."""
    found: dict[str, RuleSpec] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, RuleSpec):
                if value.id in found and found[value.id] is not value:
                    raise ValueError(f"two rules named {value.id}")
                found[value.id] = value
    return tuple(sorted(found.values(), key=lambda r: (r.cause_rank, r.id)))

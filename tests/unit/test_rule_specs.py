"""Rules are declared once: the engine's list, the triage's needs, the tracked kinds and the
cause order all come from the RuleSpecs beside the rules, and the README lists each rule."""

import re
from pathlib import Path

from stucktui.diagnose.engine import CAUSE_ORDER, RULE_IDS, RULES, TRACKED_KINDS, needs_for
from stucktui.diagnose.spec import PANELS, RuleSpec
from stucktui.diagnose.tracking import TRACKERS
from stucktui.model import clues

ROOT = Path(__file__).parent.parent.parent


def test_every_rule_module_is_found_and_ids_are_unique_kebab_case():
    assert len(RULE_IDS) == len(set(RULE_IDS)) >= 16
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", rid) for rid in RULE_IDS)


def test_causes_come_before_their_symptoms():
    assert CAUSE_ORDER["pipe-writers-blocked"] < CAUSE_ORDER["workers-all-blocked"]
    assert CAUSE_ORDER["pipe-writers-blocked"] < CAUSE_ORDER["close-wait-unread"]
    assert [r.cause_rank for r in RULES] == sorted(r.cause_rank for r in RULES)


def test_every_clue_is_answered_and_every_kind_tracked():
    answered = set().union(*(r.clues for r in RULES))
    assert answered == set(clues.CLUES), "a first-pass clue that no rule answers, or the reverse"
    assert set(TRACKED_KINDS) <= set(TRACKERS)
    assert all(r.needs <= PANELS for r in RULES)


def test_needs_are_derived_from_the_specs():
    assert needs_for({clues.PIPE_WRITE}) == {"threads", "files", "python"}
    assert needs_for({clues.FD_LIMIT}) == frozenset()
    assert needs_for({clues.CLOSE_WAIT}) == {"threads", "sockets"}
    assert needs_for({clues.LOCK_POLL}) == {"threads", "files", "locks", "python"}
    assert needs_for({clues.ZOMBIES, clues.DSTATE}) == {"threads", "signals"}


def test_a_spec_with_an_unknown_clue_is_refused():
    try:
        RuleSpec("x-y", lambda s: [], clues=frozenset({"pipe"}), needs=frozenset(), cause_rank=0, ladder="")
    except ValueError as exc:
        assert "pipe" in str(exc)
    else:
        raise AssertionError("an unknown clue was accepted")


def test_the_readme_lists_every_rule_once_with_its_ladder():
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| rule |") :]
    table = table[: table.index("\n\n")]
    listed = re.findall(r"^\| `([a-z-]+)` \|", table, re.M)
    assert sorted(listed) == sorted(RULE_IDS)

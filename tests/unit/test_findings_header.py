"""The process view's findings over the panels: capped, each finding whole or left for f."""

from __future__ import annotations

from rich.text import Text

from stucktui.ui.screens.process import fit_findings

LONG = "threads wait for a lock held by pid 4242 (python3), which is itself blocked reading a pipe " * 2


def test_three_long_findings_at_120_columns_keep_to_the_header_and_say_how_many_more():
    findings = [Text(f"CRITICAL {i}: {LONG}") for i in range(3)]
    out = fit_findings(findings, 118, 6)
    lines = out.plain.splitlines()
    assert len(lines) <= 6 and all(len(line) <= 118 for line in lines)
    assert lines[-1].startswith("… 1 more · f: every finding")
    text = out.plain.replace("\n", " ")
    for i in range(2):  # the two shown are whole, never cut mid-sentence
        assert f"CRITICAL {i}: {LONG}".strip() in " ".join(text.split())


def test_what_fits_is_shown_whole_and_a_first_one_too_long_says_it_is_cut():
    assert fit_findings([Text("CRITICAL short")], 80, 3).plain == (
        "CRITICAL short\nf: every finding with its evidence and next steps"
    )
    out = fit_findings([Text(LONG * 4), Text("WARNING b")], 40, 4).plain.splitlines()
    assert len(out) == 4 and out[2].endswith("…") and out[3].startswith("… 1 more")

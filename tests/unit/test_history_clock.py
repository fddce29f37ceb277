"""History's packed clock (diagnose/clock.py): many int keys (CLOSE_WAIT socket inodes) kept
in two arrays must give exactly the ages the plain dict gave."""

from __future__ import annotations

from stucktui.diagnose.clock import PACK_AT, ClockAges, IntClock
from stucktui.diagnose.history import History
from stucktui.diagnose.subject import Ages

IDENT = (42, 1000)


def _inodes(start: int, n: int) -> list[int]:
    return [start + 7 * i for i in range(n)][::-1]  # not sorted: the clock sorts


def test_many_int_keys_are_packed_and_keep_their_first_seen_time():
    h = History()
    first = _inodes(10_000, PACK_AT + 100)
    a = h.observe(IDENT, {"close_wait": first}, now=100.0)
    assert isinstance(a.by_kind["close_wait"], ClockAges)
    assert a.age("close_wait", first[0]) == 0.0
    later = first[50:] + _inodes(900_000, 3)  # 50 went away, 3 are new
    b = h.observe(IDENT, {"close_wait": later}, now=160.0)
    ages = b.by_kind["close_wait"]
    assert len(ages) == len(later)
    assert ages[first[60]] == 60.0 and ages[900_000] == 0.0
    assert first[0] not in ages and ages.get(first[0], -1.0) == -1.0
    assert b.oldest("close_wait", [900_000, 900_007]) == 0.0
    assert b.oldest("close_wait", [900_000, first[60]]) == 60.0
    assert b.oldest("close_wait", [123]) == 0.0  # unknown keys count as new, as with a dict
    assert b.oldest("close_wait", []) == 0.0
    # the socket that went away and came back is new again
    c = h.observe(IDENT, {"close_wait": [*later, first[0]]}, now=200.0)
    assert c.age("close_wait", first[0]) == 0.0 and c.age("close_wait", first[60]) == 100.0


def test_a_steady_set_reuses_the_same_clock():
    h = History()
    keys = _inodes(5, PACK_AT)
    h.observe(IDENT, {"close_wait": keys}, now=1.0)
    clock = h._seen[IDENT]["close_wait"]
    h.observe(IDENT, {"close_wait": list(reversed(keys))}, now=2.0)
    assert h._seen[IDENT]["close_wait"] is clock
    assert isinstance(clock, IntClock) and len(clock) == PACK_AT


def test_packed_and_dict_ages_agree_across_the_threshold():
    """A set that grows past PACK_AT (dict -> clock) and shrinks below it (clock -> dict)
    keeps every first-seen time."""
    h, plain = History(), {}
    small = _inodes(1, 10)
    for now, keys in ((0.0, small), (5.0, small + _inodes(10**6, PACK_AT)), (9.0, small)):
        got = h.observe(IDENT, {"close_wait": keys}, now=now)
        plain = {k: plain.get(k, now) for k in keys}
        assert {k: got.age("close_wait", k) for k in keys} == {k: now - t for k, t in plain.items()}
    assert not isinstance(h._seen[IDENT]["close_wait"], IntClock)


def test_keys_that_are_not_small_ints_stay_in_a_dict():
    h = History()
    tuples = [(fd, 1000 + fd) for fd in range(PACK_AT + 1)]
    huge = [2**64 + i for i in range(PACK_AT + 1)]
    a = h.observe(IDENT, {"pipe_write": tuples, "close_wait": huge}, now=3.0)
    assert isinstance(h._seen[IDENT]["pipe_write"], dict) and isinstance(h._seen[IDENT]["close_wait"], dict)
    assert a.age("pipe_write", (3, 1003)) == 0.0 and a.age("close_wait", huge[0]) == 0.0


def test_a_seeded_history_shares_the_packed_clock():
    triage, view = History(), History()
    keys = _inodes(77, PACK_AT + 1)
    triage.observe(IDENT, {"close_wait": keys}, now=10.0)
    view.seed_from(triage, IDENT)
    assert view.observe(IDENT, {"close_wait": keys}, now=70.0).oldest("close_wait", keys) == 60.0


def test_clock_lookups_of_other_types_miss():
    clock = IntClock.pack(_inodes(0, PACK_AT), {}, now=1.0)
    assert clock is not None
    assert "7" not in clock and 7.0 not in clock and 7 in clock and -1 not in clock
    assert Ages({"close_wait": clock.ages(4.0)}, tracked=True).oldest("close_wait", [7, "x"]) == 3.0

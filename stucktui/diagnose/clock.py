"""First-seen times of many integer keys (CLOSE_WAIT socket inodes), packed in two arrays.

A box with 50,000 leaked sockets in one process made History keep a dict of 50,000 int
objects and their times for as long as the view lived: about 2.5 MiB of small objects, spread
over pymalloc arenas among the refresh's transient ones (which then could not be handed back).
An IntClock keeps the same facts in a sorted array('q') of keys and an array('d') of times,
about 16 bytes a key and no Python object per key. Both are immutable once built.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from itertools import repeat
from math import inf

PACK_AT = 512  # fewer keys stay in a plain dict: packing pays only for big sets


class IntClock(Mapping[Hashable, float]):
    """key -> first-seen time (History's monotonic clock), for int keys in [-2**63, 2**63)."""

    __slots__ = ("_keys", "_times")

    def __init__(self, keys: array[int], times: array[float]) -> None:
        self._keys = keys  # sorted, distinct
        self._times = times  # same length: the time each key was first seen

    @classmethod
    def pack(cls, keys: Sequence[Hashable], before: Mapping[Hashable, float], now: float) -> IntClock | None:
        """The clock of `keys` (seen now), keeping the first-seen times `before` knows and
        `now` for the new ones; None when the keys are not all ints that fit 64 bits."""
        if any(type(k) is not int for k in keys):
            return None
        try:
            packed = array("q", sorted(set(keys)))  # type: ignore[type-var]
        except OverflowError:
            return None
        if isinstance(before, IntClock):
            if packed == before._keys:
                return before  # nothing came or went: the common steady refresh
            old: Mapping[Hashable, float] = dict(zip(before._keys, before._times, strict=True))
        else:
            old = before
        return cls(packed, array("d", map(old.get, packed, repeat(now))))  # type: ignore[arg-type]

    def _find(self, key: object) -> int:
        if type(key) is not int:
            return -1
        keys = self._keys
        lo = bisect_left(keys, key)
        return lo if lo < len(keys) and keys[lo] == key else -1

    def __getitem__(self, key: object) -> float:
        i = self._find(key)
        if i < 0:
            raise KeyError(key)
        return self._times[i]

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def ages(self, now: float) -> ClockAges:
        return ClockAges(self, now)

    def lookup(self) -> dict[object, float]:
        """The clock as a plain dict, for many lookups in a row (built in one C pass)."""
        return dict(zip(self._keys, self._times, strict=True))


class ClockAges(Mapping[object, float]):
    """An IntClock read as ages (seconds seen, as of `now`): what Ages hands the rules."""

    __slots__ = ("_clock", "_now", "_lookup")

    def __init__(self, clock: IntClock, now: float) -> None:
        self._clock = clock
        self._now = now
        self._lookup: dict[object, float] | None = None  # built at the first oldest(), for one evaluation

    def __getitem__(self, key: object) -> float:
        return max(0.0, self._now - self._clock[key])

    def __iter__(self) -> Iterator[object]:
        return iter(self._clock)

    def __len__(self) -> int:
        return len(self._clock)

    def oldest(self, keys: Iterable[object]) -> float:
        """The age of the oldest of `keys` (0.0 when none is known), in one pass."""
        if self._lookup is None:
            self._lookup = self._clock.lookup()
        first = min(map(self._lookup.get, keys, repeat(inf)), default=inf)
        return 0.0 if first == inf else max(0.0, self._now - first)

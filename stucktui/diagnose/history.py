"""What stucktui has seen across refreshes: when each CLOSE_WAIT socket, D-state thread, zombie
child, stuck signal and lock wait was first seen, so a finding can say "for 5 minutes".

The one mutable object of the diagnosis: the caller keeps one History per view for as long as
the view lives and hands it to every diagnose() or triage() call. Rules never see it; they
get the frozen Ages it returns. Thread-safe, and bounded in size.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable, Mapping
from typing import TYPE_CHECKING

from stucktui.diagnose.clock import PACK_AT, IntClock

if TYPE_CHECKING:
    from stucktui.diagnose.subject import Ages

Identity = tuple[int, int | None]  # (pid, starttime ticks): a reused pid is another process
_MAX_KEYS = 200_000  # per process and kind: a box with 100,000 CLOSE_WAIT sockets still fits
_MAX_PROCESSES = 20_000


class History:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[Identity, dict[str, Mapping[Hashable, float]]] = {}

    def observe(self, identity: Identity, current: Mapping[str, Iterable[Hashable]], now: float) -> Ages:
        """Record what one process shows now, by kind; forget, for the kinds given, what it no
        longer shows (a socket closed and reopened is new). Returns the age of each key."""
        from stucktui.diagnose.subject import Ages

        with self._lock:
            kinds = self._seen.get(identity)
            if kinds is None:
                if len(self._seen) >= _MAX_PROCESSES:
                    self._seen.pop(next(iter(self._seen)))  # the oldest process entry
                kinds = self._seen[identity] = {}
            ages: dict[str, Mapping[object, float]] = {}
            for kind, keys in current.items():
                before = kinds.get(kind, {})
                listed = keys if isinstance(keys, list | tuple) else list(keys)
                if PACK_AT <= len(listed) <= _MAX_KEYS:
                    clock = IntClock.pack(listed, before, now)
                    if clock is not None:  # many int keys (socket inodes): packed, no object a key
                        kinds[kind] = clock
                        ages[kind] = clock.ages(now)
                        continue
                now_seen: dict[Hashable, float] = {}
                for k in listed:
                    if len(now_seen) >= _MAX_KEYS:
                        break
                    now_seen[k] = before.get(k, now)
                kinds[kind] = now_seen
                ages[kind] = {k: max(0.0, now - t) for k, t in now_seen.items()}
            return Ages(ages, tracked=True)

    def retain(self, alive: Iterable[Identity]) -> None:
        """Forget processes that are gone (triage calls this with the box's processes)."""
        keep = set(alive)
        with self._lock:
            for ident in [i for i in self._seen if i not in keep]:
                del self._seen[ident]

    def sweep(self, kinds: Iterable[str], observed: Iterable[Identity]) -> None:
        """Forget `kinds` for every process not in `observed`: a box-wide scan that found no
        D-state thread in a process ends that process's D-state clock."""
        seen = set(observed)
        kinds = tuple(kinds)
        with self._lock:
            for ident, by_kind in self._seen.items():
                if ident not in seen:
                    for k in kinds:
                        by_kind.pop(k, None)

    def seed_from(self, other: History, identity: Identity) -> None:
        """Start this process's clocks from `other`'s when this history has not seen it yet:
        a process opened from the triage keeps the ages the triage measured (a finding that
        waits a few seconds before it speaks does not wait again in the process view)."""
        if other is self:
            return
        with other._lock:
            theirs = other._seen.get(identity)
            # an IntClock is immutable: shared, not copied
            copied: dict[str, Mapping[Hashable, float]] | None = (
                {kind: keys if isinstance(keys, IntClock) else dict(keys) for kind, keys in theirs.items()}
                if theirs
                else None
            )
        if copied is None:
            return
        with self._lock:
            if identity not in self._seen:
                self._seen[identity] = copied

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)

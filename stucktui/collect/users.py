"""uid -> user name, cached (pwd lookups can hit NSS and be slow)."""

from __future__ import annotations

import pwd


class UserNames:
    def __init__(self) -> None:
        self._cache: dict[int, str] = {}

    def __call__(self, uid: int) -> str:
        name = self._cache.get(uid)
        if name is None:
            try:
                name = pwd.getpwuid(uid).pw_name
            except (KeyError, OSError):
                name = str(uid)
            self._cache[uid] = name
        return name

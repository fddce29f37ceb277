"""Parser of the signal masks in /proc/PID/status (SigPnd, ShdPnd, SigBlk, SigIgn, SigCgt)."""

from __future__ import annotations


def parse_mask(text: str) -> int:
    """A hex mask as proc(5) prints it ('0000000000002000')."""
    return int(text.strip(), 16)

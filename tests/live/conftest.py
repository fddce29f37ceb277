"""Fixtures of the live tests: `hangfs`, a real FUSE mount whose file never answers a read."""

from tests.live.fusekit import hangfs

__all__ = ["hangfs"]

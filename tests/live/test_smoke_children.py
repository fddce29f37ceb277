"""The child helper itself: a child starts, is seen, and is ended by pid."""

import os

import pytest

pytestmark = pytest.mark.live


def test_child_ready_and_ended(children):
    p = children.python("ready()\nimport time\nwhile True: time.sleep(1)\n")
    children.wait_ready(p)
    assert os.path.exists(f"/proc/{p.pid}")
    children.end(p)
    assert p.returncode is not None

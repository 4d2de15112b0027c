"""Shared test helpers: real peers (sipp, tshark, baresip, dot) are required, not optional.

In CI (``CI=true``) a missing peer fails the test; on a developer machine it skips with the
command that installs it.
"""
from __future__ import annotations

import os
import shutil

import pytest

PEER_PACKAGES = {
    "sipp": "sip-tester",
    "tshark": "tshark",
    "editcap": "tshark",
    "baresip": "baresip-core",
    "dot": "graphviz",
}


def require_peer(command: str) -> str:
    """Return the path of ``command``, or fail (CI) / skip (elsewhere) when it is missing."""
    path = shutil.which(command)
    if path:
        return path
    package = PEER_PACKAGES.get(command, command)
    message = f"{command} not found: apt-get install {package}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"peer missing in CI: {message}")
    pytest.skip(message)
    raise AssertionError("unreachable")


def pytest_report_header(config: pytest.Config) -> str:
    """Whether the SIP hot path under test is the mypyc-compiled one (setup.py)."""
    from fsync_model import _compiled

    return f"fsync SIP hot path: {_compiled.status()}"

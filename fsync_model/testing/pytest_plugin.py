"""pytest plugin for fsync: options and fixtures that run suites against a device.

Registered through the ``pytest11`` entry point, so it is active wherever fsync is installed.
"""
from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fsync", "fsync feature-sync testing")
    group.addoption("--fsync-vendor", default=None,
                    help="profile name from spec/ (e.g. broadsoft)")
    group.addoption("--fsync-dut", default=None, choices=("phone", "server"),
                    help="run against a real device playing this role instead of the "
                         "reference agent")
    group.addoption("--fsync-target", default=None,
                    help="the device's address, e.g. udp:127.0.0.1:5060")
    group.addoption("--fsync-control", default=None,
                    help="shell command template that acts on the device")
    group.addoption("--fsync-query", default=None,
                    help="shell command that prints the device's state JSON")

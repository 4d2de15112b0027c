"""pytest plugin for fsync: options, markers and fixtures that run suites against the
reference agents or (later) a device.

Registered through the ``pytest11`` entry point, so it is active wherever fsync is installed.
The generated suites (``fsync generate``) use it: each module is marked
``@pytest.mark.fsync_profile("<id>")`` and each test takes the ``fsync_target`` fixture,
which yields a :class:`~fsync_model.testing.fixtures.Bench` (the reference phone and server
of that profile on their own in-memory network, so tests run in parallel under
``pytest -n auto``). ``@pytest.mark.fsync_setup(sync=False, subscribe_expires=120,
seed=1)`` changes how the bench is built. ``--fsync-vendor`` keeps the tests of one
profile. ``--fsync-dut`` will hand the tests a device adapter; until ``fsync test`` exists
they are skipped with the reason.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from fsync_model.profile import Profile

DUT_NOT_YET = (
    "--fsync-dut: driving a real device is the job of `fsync test`, which is not there yet; "
    "run without --fsync-dut to test the reference agents"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fsync", "fsync feature-sync testing")
    group.addoption("--fsync-vendor", default=None,
                    help="profile name from spec/ (e.g. broadsoft): keep only its tests")
    group.addoption("--fsync-dut", default=None, choices=("phone", "server"),
                    help="run against a real device playing this role instead of the "
                         "reference agent")
    group.addoption("--fsync-target", default=None,
                    help="the device's address, e.g. udp:127.0.0.1:5060")
    group.addoption("--fsync-control", default=None,
                    help="shell command template that acts on the device")
    group.addoption("--fsync-query", default=None,
                    help="shell command that prints the device's state JSON")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fsync_profile(id): the spec/ profile a generated test module runs")
    config.addinivalue_line(
        "markers", "fsync_setup(sync=True, subscribe_expires=None, seed=1): how "
                   "fsync_target builds the bench for a test")


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Versions and the property-run settings, so a run can be reproduced."""
    import hypothesis

    import fsync_model
    from fsync_model.testing.machine import EXAMPLES_ENV, PROFILE_ENV, STEPS_ENV

    settings = os.environ.get(PROFILE_ENV, "fsync-ci")
    counts = ", ".join(f"{name}={os.environ[name]}" for name in (EXAMPLES_ENV, STEPS_ENV)
                       if os.environ.get(name))
    dut = config.getoption("--fsync-dut")
    return [f"fsync {fsync_model.__version__}, hypothesis {hypothesis.__version__}; "
            f"property runs: settings profile {settings}{' (' + counts + ')' if counts else ''}"
            f"; target: {'device (' + dut + ')' if dut else 'reference agents'}"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    vendor = config.getoption("--fsync-vendor")
    if not vendor:
        return
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        marker = item.get_closest_marker("fsync_profile")
        (dropped if marker is not None and marker.args[0] != vendor else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _profile_of(request: pytest.FixtureRequest) -> Profile:
    from fsync_model.testing.fixtures import profiles

    marker = request.node.get_closest_marker("fsync_profile")
    name = marker.args[0] if marker is not None else request.config.getoption("--fsync-vendor")
    if not name:
        raise pytest.UsageError("fsync_target needs @pytest.mark.fsync_profile(\"<id>\") on the "
                                "test or module, or --fsync-vendor")
    known = profiles()
    if name not in known:
        raise pytest.UsageError(f"unknown fsync profile {name!r}; known: {', '.join(known)}")
    return known[name]


@pytest.fixture
def fsync_profile(request: pytest.FixtureRequest) -> Profile:
    """The profile of the test (``fsync_profile`` marker, else ``--fsync-vendor``)."""
    return _profile_of(request)


@pytest.fixture
def fsync_target(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The system under test behind the small API of ``fixtures.Target``: by default a
    fresh `Bench` of the test's profile (its own in-memory network)."""
    if request.config.getoption("--fsync-dut"):
        pytest.skip(DUT_NOT_YET)
    from fsync_model.testing.fixtures import Bench

    marker = request.node.get_closest_marker("fsync_setup")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    yield Bench(_profile_of(request), **options)

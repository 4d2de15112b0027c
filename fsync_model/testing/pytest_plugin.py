"""pytest plugin for fsync: options, markers and fixtures that run suites against the
reference agents or a device.

Registered through the ``pytest11`` entry point, so it is active wherever fsync is installed.
The generated suites (``fsync generate``) use it: each module is marked
``@pytest.mark.fsync_profile("<id>")`` and each test takes the ``fsync_target`` fixture,
which yields a :class:`~fsync_model.testing.fixtures.Bench` (the reference phone and server
of that profile on their own in-memory network, so tests run in parallel under
``pytest -n auto``). ``@pytest.mark.fsync_setup(sync=False, subscribe_expires=120,
seed=1)`` changes how the bench is built. ``--fsync-vendor`` keeps the tests of one
profile.

``--fsync-dut phone|server`` runs the tests against a device instead, through the machinery
of ``fsync test`` (:mod:`fsync_model.dut.target`): one connection for the whole run, fsync
playing the other side; ``fsync_target`` is then a :class:`~fsync_model.dut.target.
DeviceTarget` that runs each test's changes as a ``fsync test`` case (from the default
state, replayed when it fails, shrunk) and checks the device through ``--fsync-query``.
Tests that need what only the in-memory bench does (tamper rules, network faults, virtual
time, the line setting) are skipped with the reason. Required with ``--fsync-dut``:

* ``--fsync-vendor``: the profile the device speaks;
* ``--fsync-target``: ``--fsync-dut server``: the server under test, e.g.
  ``udp:127.0.0.1:5060``; ``--fsync-dut phone``: where fsync's server listens, the address
  the phone under test registers at (its registrar), e.g. ``udp:127.0.0.1:5070``;
* ``--fsync-control`` and ``--fsync-query``: the device's shell hooks, as ``fsync test``'s
  ``--control`` and ``--query``.

Optional: ``--fsync-user`` (1001), ``--fsync-password`` (fsync), ``--fsync-wait`` (30 s
for the device to register), ``--fsync-settle`` (0.5 s) and ``--fsync-step-timeout`` (10 s),
as ``fsync test``'s options of those names. One device is one run: no ``-n`` (xdist) with it.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from fsync_model.profile import Profile

_DUT_CONFIG = pytest.StashKey[Any]()

#: what each option needs, for the usage error of a missing one
DUT_EXAMPLES = {
    "--fsync-vendor": "--fsync-vendor broadsoft (the profile the device speaks)",
    "--fsync-control": "--fsync-control 'curl -s -d \"{feature} {action} {target} {rings}\" "
                       "http://127.0.0.1:8081/command'",
    "--fsync-query": "--fsync-query 'curl -s http://127.0.0.1:8081/state'",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fsync", "fsync feature-sync testing")
    group.addoption("--fsync-vendor", default=None,
                    help="profile name from spec/ (e.g. broadsoft): keep only its tests")
    group.addoption("--fsync-dut", default=None, choices=("phone", "server"),
                    help="run against a real device playing this role instead of the "
                         "reference agent")
    group.addoption("--fsync-target", default=None,
                    help="the device's address: the server under test (--fsync-dut server, "
                         "e.g. udp:127.0.0.1:5060), or where fsync's server listens for the "
                         "phone under test, its registrar (--fsync-dut phone, e.g. "
                         "udp:127.0.0.1:5070)")
    group.addoption("--fsync-control", default=None,
                    help="shell command template that acts on the device ({feature} "
                         "{action} {target} {rings} {user}, as fsync test --control)")
    group.addoption("--fsync-query", default=None,
                    help="shell command that prints the device's state JSON ({user})")
    group.addoption("--fsync-user", default="1001",
                    help="the line's user under --fsync-dut (default 1001)")
    group.addoption("--fsync-password", default="fsync",
                    help="the line's digest password under --fsync-dut (default fsync)")
    group.addoption("--fsync-wait", default=30.0, type=float,
                    help="seconds to wait for the device to register (default 30)")
    group.addoption("--fsync-settle", default=0.5, type=float,
                    help="quiet (no message) that ends a step under --fsync-dut (default 0.5)")
    group.addoption("--fsync-step-timeout", default=10.0, type=float,
                    help="longest wait for the outcome of one step under --fsync-dut "
                         "(default 10)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fsync_profile(id): the spec/ profile a generated test module runs")
    config.addinivalue_line(
        "markers", "fsync_setup(sync=True, subscribe_expires=None, seed=1): how "
                   "fsync_target builds the bench for a test")
    if config.getoption("--fsync-dut"):
        config.stash[_DUT_CONFIG] = _dut_config(config)


def _missing(option: str, role: str) -> pytest.UsageError:
    if option == "--fsync-target":
        example = ("--fsync-target udp:127.0.0.1:5060 (the server under test)"
                   if role == "server" else
                   "--fsync-target udp:127.0.0.1:5070 (where fsync's server listens: the "
                   "phone's registrar)")
    else:
        example = DUT_EXAMPLES[option]
    return pytest.UsageError(f"--fsync-dut {role} needs {option}: add {example}")


def _dut_config(config: pytest.Config) -> Any:
    """The ``fsync test`` run configuration of ``--fsync-dut`` (UsageError saying what to
    add or change)."""
    from fsync_model.cli.main import UsageError
    from fsync_model.cli.runtime import socket_address
    from fsync_model.dut.hooks import ShellDevice, TemplateError
    from fsync_model.dut.runner import RunConfig
    from fsync_model.dut.session import Timing
    from fsync_model.testing.fixtures import profiles

    role = config.getoption("--fsync-dut")
    for option in ("--fsync-vendor", "--fsync-target", "--fsync-control", "--fsync-query"):
        if not config.getoption(option):
            raise _missing(option, role)
    if getattr(config, "workerinput", None) is not None:
        raise pytest.UsageError("--fsync-dut drives one device from one process: run "
                                "without -n (pytest-xdist)")
    vendor = config.getoption("--fsync-vendor")
    known = profiles()
    if vendor not in known:
        raise pytest.UsageError(f"--fsync-vendor {vendor!r}: unknown profile; known: "
                                f"{', '.join(known)}")
    try:
        address = socket_address(config.getoption("--fsync-target"), "--fsync-target")
        device = ShellDevice.from_options(config.getoption("--fsync-control"),
                                          config.getoption("--fsync-query"), timeout=10.0)
    except (UsageError, TemplateError) as error:
        message = str(error).replace("--control", "--fsync-control").replace(
            "--query", "--fsync-query")
        raise pytest.UsageError(message) from None
    if address.port == 0:
        raise pytest.UsageError(f"--fsync-target {address}: give the port, e.g. "
                                f"{address.transport}:{address.host}:5060")
    user = config.getoption("--fsync-user")
    seconds = {}
    for option, example in (("--fsync-wait", 30), ("--fsync-settle", 0.5),
                            ("--fsync-step-timeout", 10)):
        value = config.getoption(option)
        if not 0 < value <= 86400:
            raise pytest.UsageError(f"{option} {value}: seconds > 0, e.g. {option} {example}")
        seconds[option] = value
    listen, target = (address, None) if role == "phone" else (None, address)
    timing = Timing(wait=seconds["--fsync-wait"], settle=seconds["--fsync-settle"],
                    step_timeout=seconds["--fsync-step-timeout"])
    return RunConfig(known[vendor], role, user, device, listen, target,
                     password=config.getoption("--fsync-password"), examples=0,
                     timing=timing, shrink_budget=60.0, vendor=vendor,
                     command=["pytest", "--fsync-dut", role])


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
    fresh `Bench` of the test's profile (its own in-memory network); with ``--fsync-dut`` a
    `DeviceTarget` on the device's connection."""
    if request.config.getoption("--fsync-dut"):
        yield _device_target(request)
        return
    from fsync_model.testing.fixtures import Bench

    marker = request.node.get_closest_marker("fsync_setup")
    options: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
    yield Bench(_profile_of(request), **options)


@pytest.fixture(scope="session")
def fsync_device(request: pytest.FixtureRequest) -> Iterator[Any]:
    """``--fsync-dut``: the connection to the device (a ``fsync test`` session), opened at
    the first test that needs it and closed at the end of the run."""
    from fsync_model.dut.target import DeviceConnection, DeviceSetupError

    config = request.config.stash.get(_DUT_CONFIG, None)
    if config is None:
        raise pytest.UsageError("fsync_device needs --fsync-dut phone or --fsync-dut server")
    device = DeviceConnection(config)
    try:
        try:
            device.open()
        except DeviceSetupError as error:
            pytest.fail(str(error), pytrace=False)
        yield device
    finally:
        device.close()


def _device_target(request: pytest.FixtureRequest) -> Any:
    from fsync_model.dut.target import IGNORED_SETUP, DeviceTarget, DeviceUnavailable

    profile = _profile_of(request)
    dut = request.config.stash[_DUT_CONFIG]
    if profile.id != dut.profile.id:
        pytest.skip(f"a test of profile {profile.id}; the device speaks {dut.profile.id} "
                    "(--fsync-vendor)")
    marker = request.node.get_closest_marker("fsync_setup")
    other = sorted(set(marker.kwargs) - IGNORED_SETUP) if marker is not None else []
    if other:
        pytest.skip(f"@fsync_setup({', '.join(other)}) builds the in-memory bench another way; "
                    "a device is tested as it is configured")
    device = request.getfixturevalue("fsync_device")
    return _SkipUnavailable(DeviceTarget(device, request.node.nodeid), DeviceUnavailable)


class _SkipUnavailable:
    """Forwards to the target; what it cannot do skips the test with the reason."""

    def __init__(self, target: Any, unavailable: type[Exception]) -> None:
        self._target = target
        self._unavailable = unavailable

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            __tracebackhide__ = True
            try:
                return value(*args, **kwargs)
            except self._unavailable as error:
                pytest.skip(f"not against a device: {error}")

        return call

"""The pytest plugin: markers, the fsync_target fixture, --fsync-vendor and --fsync-dut
(against a device: tests/dut/test_pytest_plugin.py)."""
from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

MODULE = '''
import pytest
from fsync_model.agents.state import Change

pytestmark = pytest.mark.fsync_profile("{profile}")


def test_dnd(fsync_target) -> None:
    fsync_target.start()
    fsync_target.user_change(Change("dnd", True))
    fsync_target.settle()
    fsync_target.expect_state("server", Change("dnd", True))
    fsync_target.check(final=True)


@pytest.mark.fsync_setup(sync=False, seed=4)
def test_sync_off(fsync_target) -> None:
    assert not fsync_target.phone.sync_active and fsync_target.seed == 4
'''


def test_fsync_target_runs_the_reference_agents(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bsft=MODULE.format(profile="broadsoft"))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*fsync 0.*, hypothesis *target: reference agents*"])


def test_vendor_option_keeps_one_profile(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_bsft=MODULE.format(profile="broadsoft"),
                        test_ystr=MODULE.format(profile="yeastar"))
    result = pytester.runpytest("-p", "no:cacheprovider", "--fsync-vendor", "yeastar")
    result.assert_outcomes(passed=2, deselected=2)


def test_a_device_under_test_needs_its_options(pytester: pytest.Pytester) -> None:
    """--fsync-dut runs the tests against a device (tests/dut/test_pytest_plugin.py); without
    the options that say which and how, it is a usage error naming the first one missing."""
    pytester.makepyfile(test_bsft=MODULE.format(profile="broadsoft"))
    result = pytester.runpytest("-p", "no:cacheprovider", "--fsync-dut", "server")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--fsync-dut server needs --fsync-vendor: add*"])


def test_a_test_without_a_profile_is_told_what_to_add(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_none="def test_x(fsync_target) -> None:\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*fsync_profile*--fsync-vendor*"])

"""Administrators' changes on the reference server (portal, control language, HTTP API):
what the profile does not take is refused with a clear error and never sent."""
from __future__ import annotations

import random

import pytest

from fsync_model.agents.control import ControlError, RefusedCommand
from fsync_model.agents.server import ReferenceServer
from fsync_model.agents.state import Change, FeatureState
from fsync_model.profile import load_all
from fsync_model.sip.message import Request, parse_message
from fsync_model.testing.fixtures import USER, Bench


def notifies(bench: Bench) -> list[Request]:
    return [m for _, _, _, data in bench.sent
            if isinstance(m := parse_message(data), Request) and m.method == "NOTIFY"]


def test_a_ring_count_out_of_range_is_refused_and_not_sent() -> None:
    """Was known issue portal-ring-range: the server took 11 rings (BroadSoft: 1-10) and
    NOTIFYed a body its own phone refuses (400)."""
    bench = Bench("broadsoft")
    bench.start()
    before = len(notifies(bench))
    bench.admin_change(Change("cfna", True, "3000", 11))
    bench.settle()
    bench.check(final=True)
    assert [(change, message) for _, change, message in bench.refused] == [
        (Change("cfna", True, "3000", 11),
         "cfna on 3000 11: ring count 11 is outside 1-10, the range broadsoft takes; "
         "nothing was changed")]
    assert bench.server.state(USER) == FeatureState() == bench.phone.state
    # the settle's subscription refresh brings the full state again, nothing else
    assert all(b"<ringCount>11<" not in n.body for n in notifies(bench)[before:])
    bench.admin_change(Change("cfna", True, "3000", 10))  # the edge of the range is taken
    bench.settle()
    bench.check(final=True)
    assert bench.phone.state.cfna.rings == 10 and len(bench.refused) == 1


@pytest.mark.parametrize("rings", [0, 11, 99])
def test_the_server_api_raises_a_control_error(rings: int) -> None:
    server = ReferenceServer(load_all()["broadsoft"], rng=random.Random(1), log_messages=False)
    with pytest.raises(RefusedCommand, match=f"ring count {rings} is outside 1-10") as error:
        server.admin_change(USER, Change("cfna", True, "3000", rings), 0.0)
    assert isinstance(error.value, ControlError) and isinstance(error.value, ValueError)
    assert server.state(USER) == FeatureState() and not server.ua.datagrams_to_send(0.0)


def test_a_feature_code_system_has_no_range_to_check() -> None:
    server = ReferenceServer(load_all()["yeastar"], rng=random.Random(1), log_messages=False)
    server.admin_change(USER, Change("cfna", True, "3000", 30), 0.0)
    assert server.state(USER).cfna.rings == 30

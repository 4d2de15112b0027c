"""Feature-code systems (INVITE to a code: Yeastar, 3CX, Huawei/ZTE IMS): regressions of
defects the property runs found in the reference agents, each on a bench that excuses no
known issue."""
from __future__ import annotations

import pytest

from fsync_model.agents.state import Change
from fsync_model.testing.fixtures import Bench
from fsync_model.testing.stimuli import DuplicateNext


def strict(bench: Bench) -> Bench:
    """``bench`` with no known issue excused."""
    bench.known = ()
    bench.known_states = ()
    return bench


def acks_stepped(bench: Bench, key: str) -> int:
    return sum(1 for s in bench.machine_steps(key, "server")
               if s.input.value == "PHONE_SENDS_ACK")


@pytest.mark.parametrize("toward", ["server", "phone"])
def test_the_pbx_steps_only_the_first_ack_of_a_code_call(toward: str) -> None:
    # duplicated toward the server: the ACK arrives twice; toward the phone: the 2xx
    # arrives twice and the phone's UA ACKs it again (RFC 3261 13.2.2.4)
    bench = strict(Bench("yeastar"))
    bench.start()
    bench.network(DuplicateNext(6, toward))  # type: ignore[arg-type]
    bench.user_change(Change("dnd", True))
    bench.check()
    bench.settle()
    bench.check(final=True)
    assert acks_stepped(bench, "yeastar/dnd/phone-initiated") == 1
    bench.expect_flow("yeastar/dnd/phone-initiated", "Synced")
    bench.expect_state("server", Change("dnd", True))

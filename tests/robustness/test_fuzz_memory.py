"""Hypothesis fuzz of the reference server and phone on the in-memory network.

Valid messages of real flows (``run_flow``), damaged the ways broken peers damage them
(flipped bytes, truncation, duplicated headers, huge values, wrong Content-Length, bad
UTF-8, NUL bytes, another version, broken XML), are sent from a raw probe. Each must get the
answer the parser's error names (or a final response when it parses, or a counted drop),
no exception may escape the agent (the in-memory network calls it directly, so one would
fail the test), and afterwards the agent still serves: a fresh phone registers, subscribes
and syncs with the same server; the fuzzed phone, re-subscribed, syncs again.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fsync_model.agents.state import FEATURES, Change
from fsync_model.transport.memory import MemoryNetwork
from tests.robustness.harness import (
    PHONE_AT,
    PROBE_AT,
    PROFILES,
    SERVER_AT,
    SETTLE,
    Messages,
    Probe,
    check_answer,
    corpus,
    expected_for,
    garbage,
    newcomer_syncs,
    phone_on,
    responses_from,
    rewrite_dialog,
    server_on,
    stats_copy,
    subscribed,
)

#: FSYNC_FUZZ_EXAMPLES=5000 for a long hunt (random seeds); by default a fixed, quick run
LONG = int(os.environ.get("FSYNC_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=LONG or 120, deadline=None, derandomize=not LONG,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: one profile per mechanism: as-feature-event, feature codes, codes + uaCSTA (3CX)
VENDORS = ["broadsoft", "yeastar", "3cx"]


@pytest.mark.parametrize("vendor", VENDORS)
@given(data=st.data())
@FUZZ
def test_server_answers_garbage_and_keeps_serving(vendor: str, data: st.DataObject) -> None:
    profile = PROFILES[vendor]
    to_server, to_phone = corpus(vendor)
    every = Messages(to_server + to_phone, f"{vendor} messages")
    messages = data.draw(st.lists(garbage(every), min_size=1, max_size=3), label="garbage")
    net = MemoryNetwork(seed=1)
    server = server_on(net, profile)
    probe = Probe()
    net.attach(probe, PROBE_AT)
    for message in messages:
        before = stats_copy(server.ua.stats)
        since = len(net.log)
        net.inject(message, PROBE_AT, SERVER_AT)
        net.run(until=net.now + SETTLE)
        check_answer(message, expected_for(message), responses_from(net, SERVER_AT, since),
                     before, server.ua.stats)
    newcomer_syncs(net, server, profile)


@pytest.mark.parametrize("vendor", ["broadsoft", "3cx"])
@given(data=st.data())
@FUZZ
def test_phone_answers_garbage_and_keeps_syncing(vendor: str, data: st.DataObject) -> None:
    profile = PROFILES[vendor]
    to_server, to_phone = corpus(vendor)
    net = MemoryNetwork(seed=1)
    server = server_on(net, profile)
    phone = phone_on(net, profile, at=PHONE_AT)
    probe = Probe()
    net.attach(probe, PROBE_AT)
    live = []
    if phone.subscriber is not None and phone.sub_id is not None:
        sub = phone.subscriber.get(phone.sub_id)
        assert sub is not None and sub.dialog is not None
        d = sub.dialog
        # aim the server's requests at the live subscription, so the damage reaches the
        # phone's NOTIFY handling and not only the 481 for an unknown dialog
        live = [rewrite_dialog(m, d.id.call_id, d.local_tag, d.remote_tag or "")
                for m in to_phone if m.startswith(b"NOTIFY")]
    messages = data.draw(st.lists(garbage(Messages(tuple(live) + to_phone + to_server,
                                                       f"{vendor} messages")), min_size=1,
                                  max_size=3), label="garbage")
    for message in messages:
        before = stats_copy(phone.ua.stats)
        since = len(net.log)
        net.inject(message, PROBE_AT, PHONE_AT)
        net.run(until=net.now + SETTLE)
        check_answer(message, expected_for(message), responses_from(net, PHONE_AT, since),
                     before, phone.ua.stats)
    # the phone keeps syncing: a new subscription (new dialog) gets the full state, and
    # changes flow both ways again
    net.run_in_cycle(phone, lambda: phone.set_sync(False, net.now))
    net.run(until=net.now + SETTLE)
    net.run_in_cycle(phone, lambda: phone.set_sync(True, net.now))
    net.run(until=net.now + 2 * SETTLE)
    assert phone.registered
    net.run_in_cycle(phone, lambda: phone.user_change(Change("dnd", True), net.now))
    net.run(until=net.now + SETTLE)
    assert server.state("1001").dnd and phone.state.dnd
    if profile.afe is not None:
        assert subscribed(phone)
        net.run_in_cycle(server, lambda: server.admin_change("1001", Change("cfb", True, "2001"),
                                                             net.now))
        net.run(until=net.now + SETTLE)
        assert all(phone.state.agrees(server.state("1001"), f) for f in FEATURES)

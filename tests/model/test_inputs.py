"""One table, two views: SEND_/RECV_ names are derived, never written twice."""
from __future__ import annotations

import pytest

from fsync_model.model import Input, Party, View, input_for, observable, role_view, trigger_name

I = Input  # noqa: E741


def test_role_views() -> None:
    assert role_view(I.PHONE_SENDS_SUBSCRIBE_SET, Party.PHONE) == "SEND_SUBSCRIBE_SET"
    assert role_view(I.PHONE_SENDS_SUBSCRIBE_SET, Party.SERVER) == "RECV_SUBSCRIBE_SET"
    assert role_view(I.SERVER_SENDS_2XX, Party.PHONE) == "RECV_2XX"
    assert role_view(I.SERVER_SENDS_2XX, Party.SERVER) == "SEND_2XX"
    assert role_view(I.PHONE_USER_CHANGE, Party.PHONE) == "USER_CHANGE"
    assert role_view(I.PHONE_USER_CHANGE, Party.SERVER) == "PEER_USER_CHANGE"
    assert role_view(I.SERVER_ADMIN_CHANGE, Party.PHONE) == "PEER_ADMIN_CHANGE"
    assert role_view(I.PHONE_TIMEOUT, Party.PHONE) == "TIMEOUT"
    assert role_view(I.SERVER_SENDS_2XX, None) == "SERVER_SENDS_2XX"
    assert trigger_name(I.SERVER_SENDS_2XX, Party.PHONE) == "recv_2xx"
    assert trigger_name(I.PHONE_SENDS_SUBSCRIBE_SET, Party.PHONE) == "send_subscribe_set"


@pytest.mark.parametrize("role", [Party.PHONE, Party.SERVER, None])
def test_views_are_unique_and_invertible(role: Party | None) -> None:
    names = [role_view(i, role) for i in Input]
    assert len(set(names)) == len(names)
    for item in Input:
        assert input_for(role, role_view(item, role)) is item
        assert input_for(role, trigger_name(item, role)) is item
    with pytest.raises(ValueError):
        input_for(role, "SEND_NOTHING")


def test_actor_and_visibility() -> None:
    for item in Input:
        assert item.actor in Party
        assert observable(item, item.actor)
        assert observable(item, item.actor.peer) is item.on_wire
    assert I.SERVER_SENDS_NOTIFY.message == "NOTIFY"
    assert not I.PHONE_USER_CHANGE.on_wire and I.PHONE_USER_CHANGE.actor is Party.PHONE
    assert View.PEER.value == "PEER"

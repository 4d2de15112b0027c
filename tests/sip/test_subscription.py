"""RFC 6665 subscriber and notifier on two sans-IO UAs joined by a fake network."""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import pytest

from fsync_model.sip.message import Request, Response, parse_message
from fsync_model.sip.subscription import (
    RETRY_POLICY,
    Notifier,
    NotifyReceived,
    NotifyRejected,
    RefreshFailed,
    RetryPolicy,
    Subscriber,
    SubscribeReceived,
    SubscriberState,
    SubscriptionAccepted,
    SubscriptionEnded,
    SubscriptionId,
    SubscriptionState,
    SubscriptionTerminated,
)
from fsync_model.sip.useragent import RequestReceived, RequestRejected, UaEvent, UserAgent
from fsync_model.transport.address import Address

PHONE = Address("udp", "127.0.0.1", 5061)
SERVER = Address("udp", "127.0.0.1", 5062)
PACKAGE = "as-feature-event"
BODY_TYPE = "application/x-as-feature-event+xml"
URI = "sip:1001@127.0.0.1:5062"

E = TypeVar("E", bound=UaEvent)


@dataclass
class Wire:
    """Carries datagrams between the UAs at the test's ``now``; ``drop`` loses some."""

    uas: dict[Address, UserAgent]
    now: float = 0.0
    log: list[tuple[float, Address, bytes]] = field(default_factory=list)
    drop: Callable[[bytes, Address], bool] = lambda data, src: False

    def flush(self) -> None:
        moved = True
        while moved:
            moved = False
            for ua in list(self.uas.values()):
                for data, dst in ua.datagrams_to_send(self.now):
                    moved = True
                    self.log.append((self.now, ua.local, data))
                    if not self.drop(data, ua.local) and dst in self.uas:
                        self.uas[dst].receive_datagram(data, ua.local, self.now)

    def advance(self, until: float) -> None:
        while True:
            deadlines = [t for ua in self.uas.values() if (t := ua.get_timer()) is not None]
            if not deadlines or min(deadlines) > until:
                break
            self.now = max(self.now, min(deadlines))
            for ua in self.uas.values():
                ua.handle_timer(self.now)
            self.flush()
        self.now = until

    def requests(self, method: str, src: Address) -> list[Request]:
        out = []
        for _, s, data in self.log:
            message = parse_message(data)
            if s == src and isinstance(message, Request) and message.method == method:
                out.append(message)
        return out


def only(events: list[UaEvent], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


def one(events: list[UaEvent], kind: type[E]) -> E:
    found = only(events, kind)
    assert len(found) == 1, events
    return found[0]


def phone_and_server(**notifier_options: object) -> tuple[Subscriber, Notifier, Wire]:
    phone = UserAgent(PHONE, random.Random(11), user="1001")
    server = UserAgent(SERVER, random.Random(12), user="server")
    subscriber = Subscriber(phone, PACKAGE, accept=[BODY_TYPE], expires=600)
    notifier = Notifier(server, [PACKAGE], **notifier_options)  # type: ignore[arg-type]
    return subscriber, notifier, Wire({PHONE: phone, SERVER: server})


def subscribe_and_notify(subscriber: Subscriber, notifier: Notifier, wire: Wire,
                         **subscribe_options: object) -> tuple[SubscriptionId, SubscriptionId]:
    sub_id = subscriber.subscribe(URI, SERVER, wire.now, **subscribe_options)  # type: ignore[arg-type]
    wire.flush()
    accepted = one(notifier.ua.events(), SubscribeReceived)
    assert accepted.initial
    notifier.notify(accepted.subscription, wire.now, body=b"<full/>", content_type=BODY_TYPE)
    wire.flush()
    return sub_id, accepted.subscription


# ------------------------------------------------------------------ the happy path


def test_subscribe_accept_notify_active() -> None:
    subscriber, notifier, wire = phone_and_server()
    sub_id, server_id = subscribe_and_notify(subscriber, notifier, wire, cseq=5)
    subscribe = wire.requests("SUBSCRIBE", PHONE)[0]
    assert subscribe.cseq.seq == 5  # initial means new dialog, not CSeq 1
    assert subscribe.header("Event") == PACKAGE and subscribe.expires == 600
    assert subscribe.header("Accept") == BODY_TYPE
    events = subscriber.ua.events()
    accepted = one(events, SubscriptionAccepted)
    assert accepted.response.status == 200 and accepted.expires == 600
    assert accepted.response.header("Contact") is not None
    notify = one(events, NotifyReceived)
    assert notify.subscription == sub_id
    assert notify.state == SubscriptionState("active", 600)
    assert notify.request.body == b"<full/>"
    assert notify.request.header("Event") == PACKAGE
    sub = subscriber.get(sub_id)
    assert sub is not None and sub.state is SubscriberState.ACTIVE
    assert sub.dialog is not None and sub.dialog.id.remote_tag == server_id.local_tag
    assert notifier.ua.dialogs.get(sub.dialog.id.__class__(
        sub_id.call_id, server_id.local_tag, sub_id.local_tag)) is not None
    # the NOTIFY was answered 200 by the subscriber
    answered = [parse_message(d) for _, s, d in wire.log if s == PHONE]
    assert any(isinstance(m, Response) and m.status == 200 and m.cseq.method == "NOTIFY"
               for m in answered)


def test_202_accepted_as_well() -> None:
    subscriber, notifier, wire = phone_and_server(accept_status=202)
    subscribe_and_notify(subscriber, notifier, wire)
    accepted = one(subscriber.ua.events(), SubscriptionAccepted)
    assert accepted.response.status == 202


def test_notify_expires_is_the_time_remaining_at_now() -> None:
    subscriber, notifier, wire = phone_and_server()
    _, server_id = subscribe_and_notify(subscriber, notifier, wire)
    subscriber.ua.events()
    wire.now = 100.0
    notifier.notify(server_id, wire.now, body=b"<change/>", content_type=BODY_TYPE)
    wire.flush()
    notify = one(subscriber.ua.events(), NotifyReceived)
    assert notify.request.header("Subscription-State") == "active;expires=500"


def test_state_body_sends_notifies_by_itself() -> None:
    subscriber, _notifier, wire = phone_and_server(
        state_body=lambda sub: (b"<state/>", BODY_TYPE))
    subscriber.subscribe(URI, SERVER, 0.0)
    wire.flush()
    notify = one(subscriber.ua.events(), NotifyReceived)
    assert notify.request.body == b"<state/>"
    assert notify.request.content_type == BODY_TYPE


# ------------------------------------------------------------------ refresh and expiry


def test_refresh_at_fraction_and_set_request_body() -> None:
    subscriber, notifier, wire = phone_and_server()
    sub_id, server_id = subscribe_and_notify(subscriber, notifier, wire)
    subscriber.ua.events()
    notifier.ua.events()
    wire.advance(539.0)
    assert len(wire.requests("SUBSCRIBE", PHONE)) == 1
    wire.advance(540.0)  # 0.9 * 600
    refreshes = wire.requests("SUBSCRIBE", PHONE)
    assert len(refreshes) == 2
    first, refresh = refreshes
    assert refresh.call_id == first.call_id and refresh.to_tag == server_id.local_tag
    assert refresh.cseq.seq == first.cseq.seq + 1
    refreshed = one(notifier.ua.events(), SubscribeReceived)
    assert not refreshed.initial and refreshed.expires == 600
    assert one(subscriber.ua.events(), SubscriptionAccepted).expires == 600
    # a refresh may carry a body: the feature-sync set request
    subscriber.refresh(sub_id, wire.now, body=b"<SetDoNotDisturb/>", content_type=BODY_TYPE)
    wire.flush()
    set_request = one(notifier.ua.events(), SubscribeReceived)
    assert set_request.request.body == b"<SetDoNotDisturb/>"
    assert set_request.request.cseq.seq == first.cseq.seq + 2


def test_expiry_on_both_sides_when_refreshes_are_lost() -> None:
    subscriber, notifier, wire = phone_and_server()
    sub_id, server_id = subscribe_and_notify(subscriber, notifier, wire, expires=100)
    subscriber.ua.events()
    notifier.ua.events()
    wire.drop = lambda data, src: src == PHONE and data.startswith(b"SUBSCRIBE")
    wire.advance(100.0)
    notifies = wire.requests("NOTIFY", SERVER)
    assert notifies[-1].header("Subscription-State") == "terminated;reason=timeout"
    ended = one(notifier.ua.events(), SubscriptionEnded)
    assert ended.reason == "expired" and notifier.get(server_id) is None
    # the phone's refresh is still in flight at 100 s, so it waits for it; the notifier's
    # terminated NOTIFY then ends the subscription with the notifier's reason
    terminated = one(subscriber.ua.events(), SubscriptionTerminated)
    assert terminated.subscription == sub_id
    assert terminated.reason == "timeout" and terminated.retry is RetryPolicy.IMMEDIATELY
    wire.advance(200.0)  # the lost refresh times out later: swallowed, not a TU event
    assert subscriber.ua.events() == []
    assert subscriber.get(sub_id) is None
    assert len(subscriber.ua.dialogs) == 0 and len(notifier.ua.dialogs) == 0


def test_subscriber_expiry_without_successful_refresh() -> None:
    subscriber, notifier, wire = phone_and_server()
    sub_id, _ = subscribe_and_notify(subscriber, notifier, wire, expires=100)
    subscriber.ua.events()
    wire.drop = lambda data, src: src == SERVER  # the server goes silent
    wire.advance(100.0)
    assert subscriber.ua.events() == []  # the refresh sent at 90 s is still in flight
    wire.advance(122.0)  # its Timer F: the refresh failed, and the grant ran out at 100 s
    events = subscriber.ua.events()
    assert one(events, RefreshFailed).response is None
    terminated = one(events, SubscriptionTerminated)
    assert terminated.reason == "expired" and terminated.retry is RetryPolicy.IMMEDIATELY
    assert subscriber.get(sub_id) is None


def test_unsubscribe_gets_final_notify() -> None:
    subscriber, notifier, wire = phone_and_server()
    sub_id, server_id = subscribe_and_notify(subscriber, notifier, wire)
    subscriber.ua.events()
    notifier.ua.events()
    subscriber.unsubscribe(sub_id, wire.now)
    wire.flush()
    unsubscribe = wire.requests("SUBSCRIBE", PHONE)[-1]
    assert unsubscribe.expires == 0
    assert wire.requests("NOTIFY", SERVER)[-1].header(
        "Subscription-State") == "terminated;reason=timeout"
    assert one(notifier.ua.events(), SubscriptionEnded).reason == "unsubscribed"
    terminated = one(subscriber.ua.events(), SubscriptionTerminated)
    assert terminated.retry is RetryPolicy.NEVER
    assert subscriber.get(sub_id) is None and notifier.get(server_id) is None
    assert subscriber.get_timer() is None and notifier.get_timer() is None


def test_ended_subscriptions_leave_no_expiry_entries_behind() -> None:
    """An ended or refreshed subscription's old expiry (an hour away) does not pile up in
    the notifier's deadline heap: it stays within twice the live subscriptions (plus a
    small slack), whatever the number of subscriptions that came and went."""
    subscriber, notifier, wire = phone_and_server()
    _, kept = subscribe_and_notify(subscriber, notifier, wire)  # the earliest deadline
    for _ in range(150):
        sub_id, server_id = subscribe_and_notify(subscriber, notifier, wire)
        subscriber.refresh(sub_id, wire.now)
        wire.flush()
        subscriber.unsubscribe(sub_id, wire.now)
        wire.flush()
        assert notifier.get(server_id) is None
        wire.advance(wire.now + 0.01)
        notifier.ua.events()
        subscriber.ua.events()
    assert list(notifier.subscriptions) == [kept] and len(notifier.ua.dialogs) == 1
    assert len(notifier._expiries) <= 2 * 1 + 64 + 1
    assert notifier.get_timer() == notifier.subscriptions[kept].expires_at


# ------------------------------------------------------------------ rejections


def test_unknown_package_489_with_allow_events() -> None:
    phone = UserAgent(PHONE, random.Random(11))
    server = UserAgent(SERVER, random.Random(12))
    subscriber = Subscriber(phone, "presence")
    Notifier(server, [PACKAGE, "message-summary"])
    wire = Wire({PHONE: phone, SERVER: server})
    sub_id = subscriber.subscribe(URI, SERVER, 0.0)
    wire.flush()
    terminated = one(phone.events(), SubscriptionTerminated)
    assert terminated.subscription == sub_id
    assert terminated.reason == "489" and terminated.retry is RetryPolicy.NEVER
    assert terminated.response is not None
    assert terminated.response.header("Allow-Events") == f"{PACKAGE}, message-summary"
    assert len(phone.dialogs) == 0 and len(server.dialogs) == 0


def _bare_server() -> tuple[Subscriber, UserAgent, Wire]:
    phone = UserAgent(PHONE, random.Random(11))
    server = UserAgent(SERVER, random.Random(12))
    return Subscriber(phone, PACKAGE, expires=600), server, Wire({PHONE: phone, SERVER: server})


def test_489_reports_retry_after() -> None:
    subscriber, server, wire = _bare_server()
    subscriber.subscribe(URI, SERVER, 0.0)
    wire.flush()
    server.reply(one(server.events(), RequestReceived).transaction, 489, 0.0,
                 headers=[("Retry-After", "60")])
    wire.flush()
    terminated = one(subscriber.ua.events(), SubscriptionTerminated)
    assert terminated.retry is RetryPolicy.LATER and terminated.retry_after == 60.0


def test_423_retried_with_min_expires() -> None:
    subscriber, notifier, wire = phone_and_server(min_expires=1200)
    sub_id = subscriber.subscribe(URI, SERVER, 0.0)
    wire.flush()
    first, second = wire.requests("SUBSCRIBE", PHONE)
    assert first.expires == 600 and second.expires == 1200
    assert second.call_id == first.call_id and second.from_tag == first.from_tag
    assert second.cseq.seq == first.cseq.seq + 1 and second.branch != first.branch
    assert one(notifier.ua.events(), SubscribeReceived).expires == 1200
    assert one(subscriber.ua.events(), SubscriptionAccepted).subscription == sub_id


def test_481_to_refresh_ends_the_subscription() -> None:
    subscriber, notifier, wire = phone_and_server()
    sub_id, _server_id = subscribe_and_notify(subscriber, notifier, wire)
    subscriber.ua.events()
    notifier.subscriptions.clear()  # the server forgot (restart): the dialog still routes
    subscriber.refresh(sub_id, wire.now)
    wire.flush()
    terminated = one(subscriber.ua.events(), SubscriptionTerminated)
    assert terminated.reason == "481" and terminated.retry is RetryPolicy.IMMEDIATELY
    assert subscriber.get(sub_id) is None


@pytest.mark.parametrize(("reason", "policy"), sorted(RETRY_POLICY.items()))
def test_terminated_reasons_map_to_retry_policy(reason: str, policy: RetryPolicy) -> None:
    subscriber, notifier, wire = phone_and_server()
    _sub_id, server_id = subscribe_and_notify(subscriber, notifier, wire)
    subscriber.ua.events()
    notifier.terminate(server_id, wire.now, reason, retry_after=30)
    wire.flush()
    terminated = one(subscriber.ua.events(), SubscriptionTerminated)
    assert (terminated.reason, terminated.retry, terminated.retry_after) == (reason, policy, 30)


def test_malformed_subscription_state_answered_400_state_kept() -> None:
    subscriber, notifier, wire = phone_and_server()
    sub_id, server_id = subscribe_and_notify(subscriber, notifier, wire)
    subscriber.ua.events()
    sub = notifier.get(server_id)
    assert sub is not None
    notifier.ua.send_in_dialog(sub.dialog, "NOTIFY", wire.now,
                               headers=[("Event", PACKAGE),
                                        ("Subscription-State", "active, 3600")])
    wire.flush()
    answers = [parse_message(d) for _, s, d in wire.log if s == PHONE]
    last = answers[-1]
    assert isinstance(last, Response) and last.status == 400
    assert "Subscription-State" in last.reason
    assert subscriber.ua.events() == []
    client = subscriber.get(sub_id)
    assert client is not None and client.state is SubscriberState.ACTIVE


def test_notify_with_other_event_in_our_dialog_gets_481() -> None:
    subscriber, notifier, wire = phone_and_server()
    subscribe_and_notify(subscriber, notifier, wire)
    subscriber.ua.events()
    sub = next(iter(notifier.subscriptions.values()))
    notifier.ua.send_in_dialog(sub.dialog, "NOTIFY", wire.now,
                               headers=[("Event", "presence"),
                                        ("Subscription-State", "active;expires=10")])
    wire.flush()
    last = parse_message(wire.log[-1][2])
    assert isinstance(last, Response) and last.status == 481


def test_notify_on_unknown_dialog_gets_481() -> None:
    subscriber, notifier, _wire = phone_and_server()
    phone = subscriber.ua
    notify = notifier.ua.build_request(
        "NOTIFY", "sip:1001@127.0.0.1:5061", to_tag="unknown",
        headers=[("Event", PACKAGE), ("Subscription-State", "active;expires=60")])
    phone.receive_datagram(notify.serialize(), SERVER, 0.0)
    assert one(phone.events(), RequestRejected).status == 481


def test_subscribe_in_unknown_dialog_gets_481() -> None:
    _, notifier, _ = phone_and_server()
    server = notifier.ua
    refresh = UserAgent(PHONE, random.Random(3)).build_request(
        "SUBSCRIBE", URI, to_tag="gone", headers=[("Event", PACKAGE), ("Expires", "60")])
    server.receive_datagram(refresh.serialize(), PHONE, 0.0)
    answer = parse_message(server.datagrams_to_send(0.0)[0][0])
    assert isinstance(answer, Response) and answer.status == 481


# ------------------------------------------------------------------ races and timeouts


def test_notify_before_200_creates_the_dialog() -> None:
    subscriber, server, wire = _bare_server()
    sub_id = subscriber.subscribe(URI, SERVER, 0.0)
    wire.flush()
    request = one(server.events(), RequestReceived)
    dialog = server.create_uas_dialog(request.transaction)
    # the NOTIFY overtakes the 200 (RFC 6665 4.1.2.4)
    server.send_in_dialog(dialog, "NOTIFY", 0.0, headers=[
        ("Event", PACKAGE), ("Subscription-State", "pending;expires=600")])
    wire.flush()
    events = subscriber.ua.events()
    notify = one(events, NotifyReceived)
    assert notify.state.state == "pending"
    sub = subscriber.get(sub_id)
    assert sub is not None and sub.state is SubscriberState.PENDING
    assert sub.dialog is not None and sub.dialog.remote_tag == dialog.local_tag
    server.reply(request.transaction, 200, 0.0, contact=True, headers=[("Expires", "600")])
    wire.flush()
    assert one(subscriber.ua.events(), SubscriptionAccepted).subscription == sub_id
    assert sub.state is SubscriberState.PENDING  # the 200 does not undo the NOTIFY's state
    assert len(subscriber.ua.dialogs) == 1


def test_timer_n_without_notify() -> None:
    subscriber, server, wire = _bare_server()
    sub_id = subscriber.subscribe(URI, SERVER, 0.0)
    wire.flush()
    server.reply(one(server.events(), RequestReceived).transaction, 202, 0.0, contact=True,
                 headers=[("Expires", "600")])
    wire.flush()
    sub = subscriber.get(sub_id)
    assert sub is not None and sub.state is SubscriberState.NOTIFY_WAIT
    wire.advance(31.9)
    assert only(subscriber.ua.events(), SubscriptionTerminated) == []
    wire.advance(32.0)
    terminated = one(subscriber.ua.events(), SubscriptionTerminated)
    assert terminated.reason == "no-notify" and terminated.retry is RetryPolicy.LATER


def test_notify_timeout_removes_the_subscription() -> None:
    subscriber, notifier, wire = phone_and_server()
    _, server_id = subscribe_and_notify(subscriber, notifier, wire)
    notifier.ua.events()
    wire.drop = lambda data, src: src == PHONE  # the phone vanished
    notifier.notify(server_id, wire.now, body=b"<change/>", content_type=BODY_TYPE)
    wire.advance(wire.now + 40.0)
    ended = one(notifier.ua.events(), SubscriptionEnded)
    assert ended.reason == "notify-timeout" and notifier.get(server_id) is None


def test_notify_error_reported_not_fatal() -> None:
    phone = UserAgent(PHONE, random.Random(11))
    subscriber = Subscriber(phone, PACKAGE, auto_answer=False)
    server = UserAgent(SERVER, random.Random(12))
    notifier = Notifier(server, [PACKAGE])
    wire = Wire({PHONE: phone, SERVER: server})
    subscriber.subscribe(URI, SERVER, 0.0)
    wire.flush()
    server_id = one(server.events(), SubscribeReceived).subscription
    notifier.notify(server_id, 0.0, body=b"<bad", content_type=BODY_TYPE)
    wire.flush()
    notify = one(phone.events(), NotifyReceived)
    phone.reply(notify.transaction, 415, 0.0)
    wire.flush()
    rejected = one(server.events(), NotifyRejected)
    assert rejected.response.status == 415 and notifier.get(server_id) is not None


def test_subscriber_options_validated() -> None:
    with pytest.raises(ValueError):
        Subscriber(UserAgent(PHONE, random.Random(1)), PACKAGE, refresh_fraction=1.5)
    with pytest.raises(ValueError):
        Notifier(UserAgent(SERVER, random.Random(1)), [PACKAGE], accept_status=201)


# ------------------------------------------------------------------ a faulty network


@pytest.mark.parametrize("seed", range(12))
def test_subscription_survives_loss_duplication_and_reordering(seed: int) -> None:
    """Over the seeded in-memory network (20 % loss, 10 % duplicates, 10 % reordering):
    the subscription becomes active, is refreshed past its first expiry, and unsubscribes
    cleanly; duplicates never surface as extra events."""
    from fsync_model.transport.memory import MemoryNetwork

    net = MemoryNetwork(seed, loss=0.2, duplicate=0.1, reorder=0.1, delay=(0.001, 0.05))
    phone_addr, server_addr = Address("mem", "phone", 0), Address("mem", "server", 0)
    phone = UserAgent(phone_addr, random.Random(seed), user="1001")
    server = UserAgent(server_addr, random.Random(seed + 1000), user="server")
    subscriber = Subscriber(phone, PACKAGE, expires=600)
    notifier = Notifier(server, [PACKAGE], state_body=lambda sub: (b"<state/>", BODY_TYPE))
    net.attach(phone, phone_addr)
    net.attach(server, server_addr)
    sub_id = net.run_in_cycle(phone, lambda: subscriber.subscribe(
        "sip:1001@server", server_addr, net.now))
    net.run(until=700.0)
    phone_events = phone.events()
    assert only(phone_events, SubscriptionTerminated) == []
    sub = subscriber.get(sub_id)
    assert sub is not None and sub.state is SubscriberState.ACTIVE
    assert sub.expires_at is not None and sub.expires_at > 700.0
    # one NOTIFY per SUBSCRIBE transaction accepted (initial + one refresh), never more
    assert len(only(phone_events, NotifyReceived)) == len(
        only(server.events(), SubscribeReceived)) == 2
    net.run_in_cycle(phone, lambda: subscriber.unsubscribe(sub_id, net.now))
    net.run(until=800.0)
    assert one(phone.events(), SubscriptionTerminated).retry is RetryPolicy.NEVER
    assert subscriber.subscriptions == {} and notifier.subscriptions == {}
    assert len(phone.dialogs) == 0 and len(server.dialogs) == 0
    net.run(until=900.0)
    assert phone.transaction_count == 0 and server.transaction_count == 0
    assert phone.get_timer() is None and server.get_timer() is None
    assert any(entry.fate == "lost" for entry in net.log)  # the faults really happened

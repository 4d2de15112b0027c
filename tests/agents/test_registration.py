"""Registration between the reference phone and registrar, judged by the model and the
oracles: challenges in any number and order (RFC 3261 22.2, RFC 7616 stale=true), attempts
abandoned on the way, refused credentials, and the phone's de-REGISTER."""
from __future__ import annotations

import pytest

from fsync_model.agents.state import Change
from fsync_model.model import MachineKey
from fsync_model.sip.message import Request, Response, parse_message
from fsync_model.testing.fixtures import USER, Answer, Bench, Match, Swallow


def strict(bench: Bench) -> Bench:
    """``bench`` with no known issue of the reference agents excused."""
    bench.known = ()
    bench.known_states = ()
    return bench


def registers(bench: Bench) -> list[Request]:
    return [m for _, _, _, data in bench.sent
            if isinstance(m := parse_message(data), Request) and m.method == "REGISTER"]


def challenges(bench: Bench) -> list[Response]:
    return [m for _, _, _, data in bench.sent
            if isinstance(m := parse_message(data), Response) and m.status in (401, 407)]


def reg_steps(bench: Bench, side: str) -> list[tuple[str, str, str]]:
    key = MachineKey.parse(f"{bench.profile.id}/registration")
    agent = bench.phone if side == "phone" else bench.server
    return [(s.source, s.input.value, s.dest) for s in agent.steps if s.machine == key]


def test_an_abandoned_attempt_restarts_cleanly_at_the_registrar() -> None:
    """The authenticated REGISTER is refused on the path (503, the registrar never sees
    it): the phone's next REGISTER carries no credentials and is a new attempt for the
    registrar too, not refused credentials (was known issue registrar-out-of-step)."""
    bench = strict(Bench("yeastar"))
    bench.arm("server", Answer(Match("REGISTER"), 503, skip=1))
    bench.start()
    bench.advance(40.0)
    bench.check()
    assert bench.phone.registered and USER in bench.server.registrations
    server = reg_steps(bench, "server")
    assert server[-1][2] == "Registered"
    # the plain REGISTER after the abandoned attempt started a new run at the registrar
    assert [s for s in server if s[0] == "Unregistered"] == [
        ("Unregistered", "PHONE_SENDS_REGISTER", "Registering")] * 2


def test_a_challenge_to_credentials_with_a_new_nonce_is_answered_at_once() -> None:
    """A refresh is challenged by someone else (a proxy, a registrar that restarted), then
    the registrar challenges those credentials with a new nonce and stale=true: the phone
    answers at once, and the next refresh's ordinary challenge is legal too (was known
    issue registrar-new-nonce)."""
    bench = strict(Bench("broadsoft"))
    bench.start()
    bench.arm("server", Answer(Match("REGISTER"), 401))
    bench.advance(3240.0)
    bench.advance(3240.0)
    bench.check()
    assert bench.phone.registered
    phone = reg_steps(bench, "phone")
    assert ("Authenticating", "SERVER_SENDS_CHALLENGE", "Challenged") in phone
    assert phone[-1] == ("Authenticating", "SERVER_SENDS_2XX", "Registered")
    stale = [c for c in challenges(bench) if "stale=true" in (
        c.headers.get("WWW-Authenticate") or "")]
    assert len(stale) == 1, "the registrar says the forged nonce is stale, once"
    assert not bench.problems


def test_a_registrar_that_accepts_at_once_and_then_challenges() -> None:
    """The first REGISTER is accepted without a challenge (a trusted address); the phone
    follows, and takes the registrar's ordinary challenge at the next refresh."""
    bench = strict(Bench("broadsoft"))
    bench.arm("server", Answer(Match("REGISTER"), 200))
    bench.start()
    bench.advance(3240.0)
    bench.check()
    phone = reg_steps(bench, "phone")
    assert phone[:2] == [("Unregistered", "PHONE_SENDS_REGISTER", "Registering"),
                         ("Registering", "SERVER_SENDS_2XX", "Registered")]
    assert ("Refreshing", "SERVER_SENDS_CHALLENGE", "Challenged") in phone
    assert phone[-1][2] == "Registered"
    assert [p.rule for _, p in bench.problems] == ["REGISTER-NOT-CHALLENGED"]


def test_refused_credentials_end_the_attempt_without_a_flood() -> None:
    """A wrong password: the registrar challenges the credentials with their own nonce, so
    the UA stops (RFC 3261 22.2); the phone retries later with a new attempt, every
    retry_after, and no transition is illegal."""
    bench = Bench("broadsoft")
    bench.phone.ua.credentials[0] = type(bench.phone.ua.credentials[0])(USER, "wrong")
    bench.start()
    bench.advance(65.0)
    assert not bench.phone.registered
    assert len(registers(bench)) == 6  # (plain, with credentials) x 3 attempts
    nonces = [c.headers.get("WWW-Authenticate") for c in challenges(bench)]
    assert nonces[0] == nonces[1], "refused credentials are challenged with their nonce"
    illegal = [p for _, p in bench.problems if p.rule == "MODEL-ILLEGAL-TRANSITION"]
    assert not illegal
    phone = reg_steps(bench, "phone")
    assert phone[-1] == ("Authenticating", "SERVER_SENDS_CHALLENGE", "Challenged")


def test_the_phone_unregisters_and_registers_again() -> None:
    """``unregister``: the subscription ends, the de-REGISTER is challenged and sent again
    with credentials, the registrar removes the binding; ``register`` brings the line
    back (registered and subscribed again)."""
    bench = strict(Bench("broadsoft"))
    bench.start()
    bench.act(bench.phone, bench.phone.unregister)
    bench.advance(5.0)
    bench.check()
    assert not bench.phone.registered and not bench.phone.online
    assert USER not in bench.server.registrations
    removal = [r for r in registers(bench) if r.expires == 0]
    assert len(removal) == 2 and removal[1].headers.get("Authorization")
    for side in ("phone", "server"):
        assert reg_steps(bench, side)[-4:] == [
            ("Registered", "PHONE_SENDS_UNREGISTER", "Unregistering"),
            ("Unregistering", "SERVER_SENDS_CHALLENGE", "UnregisterChallenged"),
            ("UnregisterChallenged", "PHONE_SENDS_UNREGISTER", "UnregisterAuthenticating"),
            ("UnregisterAuthenticating", "SERVER_SENDS_2XX", "Unregistered"),
        ]
    assert bench.phone.deadlines.get("register") is None, "no refresh once unregistered"
    bench.act(bench.phone, bench.phone.register)
    bench.user_change(Change("dnd", True))
    bench.settle()
    bench.check(final=True)
    assert bench.phone.registered and bench.phone.state.dnd and bench.server.state(USER).dnd


def test_unregister_while_registering_removes_the_binding_once_registered() -> None:
    bench = strict(Bench("yeastar"))
    bench.arm("server", Swallow(Match("REGISTER"), 1.0))  # the first copy is lost
    bench.start()
    bench.act(bench.phone, bench.phone.unregister)
    bench.advance(40.0)
    bench.check()
    assert not bench.phone.registered and USER not in bench.server.registrations
    assert reg_steps(bench, "phone")[-1][2] == "Unregistered"


def test_a_lost_de_register_leaves_the_phone_unregistered() -> None:
    bench = strict(Bench("yeastar"))
    bench.start()
    bench.arm("server", Swallow(Match("REGISTER"), 40.0))
    bench.act(bench.phone, bench.phone.unregister)
    bench.advance(40.0)
    assert reg_steps(bench, "phone")[-1] == ("Unregistering", "PHONE_TIMEOUT", "Unregistered")
    assert not [p for _, p in bench.problems if p.rule == "MODEL-ILLEGAL-TRANSITION"]
    assert bench.phone.deadlines.get("register") is None, "no retry once unregistered"



def test_the_registrar_remembers_a_bounded_number_of_nonces(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The registrar keeps at most MAX_NONCES nonces, the newest: memory stays bounded
    however many phones register, and a phone whose nonce was forgotten is challenged
    again and registers all the same, nothing illegal on either side."""
    import fsync_model.agents.server as server_module

    monkeypatch.setattr(server_module, "MAX_NONCES", 1)
    bench = strict(Bench("broadsoft"))
    bench.start()
    first = set(bench.server._nonces)
    assert len(first) == 1
    for _ in range(3):
        bench.advance(3240.0)  # a refresh: challenged with a new nonce, the old one forgotten
        bench.check()
        assert bench.phone.registered
        assert len(bench.server._nonces) == 1
    assert set(bench.server._nonces) != first
    assert len(challenges(bench)) >= 4
    assert not bench.problems


@pytest.mark.parametrize("profile", ["yeastar", "broadsoft"])
def test_offline_a_change_at_the_keypad_is_the_phones_alone(profile: str) -> None:
    """After unregister the line is offline: a change at the keypad applies on the phone
    and sends nothing (no code call to a PBX it is not registered with, no set request
    without a subscription), as with sync off; back online the phone registers again."""
    bench = strict(Bench(profile))
    bench.start()
    bench.unregister()
    bench.settle()
    sent = len(bench.sent)
    bench.user_change(Change("dnd", True))
    bench.settle()
    assert bench.phone.state.dnd and not bench.server.state(USER).dnd
    assert not [data for _, src, _, data in bench.sent[sent:] if src == bench.phone_at
                and data.startswith((b"INVITE ", b"SUBSCRIBE "))], "sent while offline"
    bench.check(final=True)
    bench.register()
    bench.settle()
    assert bench.phone.registered
    bench.check(final=True)


def test_changes_waiting_when_the_line_goes_offline_are_dropped() -> None:
    bench = strict(Bench("yeastar"))
    bench.start()
    bench.arm("server", Swallow(Match("INVITE"), seconds=5.0))  # the first call is slow
    bench.user_change(Change("dnd", True))
    bench.user_change(Change("cfa", True, "2000"))  # waits behind it
    bench.unregister()
    bench.settle()
    assert bench.phone.dropped == [Change("cfa", True, "2000")]
    assert not bench.phone.state.cfa.on and not bench.server.state(USER).cfa.on
    bench.check(final=True)

"""Every table is well-formed, and the happy paths are the guide's ladders."""
from __future__ import annotations

import pytest

from fsync_model.model import (
    FAILED,
    INFORMED,
    REVERTED,
    SYNCED,
    FlowKind,
    IllegalTransition,
    Input,
    MachineKey,
    TransitionTable,
    flow_table,
    happy_path,
    inputs_of,
    machines_for,
    shortest_path,
)
from fsync_model.profile import (
    Direction,
    Feature,
    FullStateEncoding,
    Mechanism,
    PolicyMode,
    Profile,
)

from .conftest import (
    ALL_TABLES,
    PROFILES,
    with_answers,
    with_default_sync,
    with_executed,
    with_full_state,
    without_challenges,
)

I = Input  # noqa: E741


@pytest.mark.parametrize(("name", "table"), ALL_TABLES, ids=[n for n, _ in ALL_TABLES])
def test_table_is_well_formed(name: str, table: TransitionTable) -> None:
    reachable = table.reachable()
    assert reachable == frozenset(table.states), f"unreachable: {set(table.states) - reachable}"
    for state in table.states:
        if state not in table.finals:
            assert table.outgoing(state), f"dead end: {state}"
        # no trap: from every state some final state can still be reached
        assert table.reachable(state) & table.finals, f"no final reachable from {state}"
    assert table.goal in table.finals and table.finals <= reachable
    assert len(table.states) == len(set(table.states))
    assert happy_path(table)[-1:] == () or happy_path(table)[-1].dest == table.goal
    if table.key.kind is FlowKind.FEATURE:
        for final in table.finals:
            assert not table.outgoing(final), f"feature-flow final {final} has exits"


def test_every_profile_has_its_machines() -> None:
    keys = {pid: [str(k) for k in machines_for(p)] for pid, p in PROFILES.items()}
    assert keys["broadsoft"][:3] == [
        "broadsoft/registration", "broadsoft/line", "broadsoft/subscription",
    ]
    assert keys["broadsoft"][3:5] == [
        "broadsoft/dnd/server-initiated", "broadsoft/dnd/phone-initiated",
    ]
    assert len(keys["broadsoft"]) == 3 + 8
    assert keys["3cx"][:3] == ["3cx/registration", "3cx/line", "3cx/uacsta-session"]
    assert "3cx/dnd/server-initiated" in keys["3cx"]
    assert "3cx/cfa/server-initiated" not in keys["3cx"]
    assert len(keys["yeastar"]) == 2 + 4 and "yeastar/subscription" not in keys["yeastar"]


def test_keys_round_trip() -> None:
    for profile in PROFILES.values():
        for key, table in machines_for(profile).items():
            assert MachineKey.parse(str(key)) == key == table.key
    with pytest.raises(ValueError):
        MachineKey.parse("broadsoft/dnd")
    with pytest.raises(ValueError):
        MachineKey(system="x", kind=FlowKind.FEATURE)


def table(profile: Profile, text: str) -> TransitionTable:
    return machines_for(profile)[MachineKey.parse(text)]


def happy(profile: Profile, text: str) -> list[Input]:
    return list(inputs_of(happy_path(table(profile, text))))


# --- the guide's ladders ---------------------------------------------------------------


def test_broadsoft_phone_initiated_dnd_is_the_guide_ladder() -> None:
    # guide BroadSoft DND 2: SUBSCRIBE with the state, 200 OK, confirming NOTIFY, 200 OK
    assert happy(PROFILES["broadsoft"], "broadsoft/dnd/phone-initiated") == [
        I.PHONE_USER_CHANGE,
        I.PHONE_SENDS_SUBSCRIBE_SET,
        I.SERVER_SENDS_2XX,
        I.SERVER_SENDS_NOTIFY,
        I.PHONE_SENDS_200,
    ]
    rows = happy_path(table(PROFILES["broadsoft"], "broadsoft/dnd/phone-initiated"))
    assert [r.dest for r in rows] == [
        "ChangedLocally", "SetRequestSent", "AwaitingConfirm", "ConfirmReceived", SYNCED,
    ]
    assert rows[2].status == 200 and rows[2].label == "200 OK"
    assert rows[1].label == "SUBSCRIBE (SetDoNotDisturb)"


def test_broadsoft_server_initiated_is_notify_then_200() -> None:
    # guide BroadSoft DND 1 and forwards 1.1: NOTIFY with the state, the phone answers 200 OK
    for feature in Feature:
        key = f"broadsoft/{feature.value}/server-initiated"
        path = happy_path(table(PROFILES["broadsoft"], key))
        assert list(inputs_of(path)) == [
            I.SERVER_ADMIN_CHANGE, I.SERVER_SENDS_NOTIFY, I.PHONE_SENDS_200,
        ]
        assert [r.dest for r in path] == ["ChangedOnServer", "NotifySent", SYNCED]
    cfna = happy_path(table(PROFILES["broadsoft"], "broadsoft/cfna/server-initiated"))
    assert cfna[1].label == "NOTIFY (ForwardingEvent forwardNoAns)"


def test_metaswitch_and_fortinet_flows_equal_broadsoft() -> None:
    # guide Metaswitch: "the same packet flows as BroadSoft"; Fortinet: "the same logic"
    for other in ("metaswitch", "fortinet"):
        for feature in Feature:
            for direction in Direction:
                suffix = f"{feature.value}/{direction.initiated}"
                assert happy(PROFILES[other], f"{other}/{suffix}") == happy(
                    PROFILES["broadsoft"], f"broadsoft/{suffix}"
                )


def test_feature_code_ladder() -> None:
    # protocol 3: INVITE to the code, 2xx, ACK, BYE (the phone hangs up), 200 to the BYE
    path = happy_path(table(PROFILES["yeastar"], "yeastar/cfa/phone-initiated"))
    assert list(inputs_of(path)) == [
        I.PHONE_USER_CHANGE, I.PHONE_SENDS_INVITE, I.SERVER_SENDS_2XX, I.PHONE_SENDS_ACK,
        I.PHONE_SENDS_BYE, I.SERVER_SENDS_2XX,
    ]
    assert [r.dest for r in path] == [
        "ChangedLocally", "Inviting", "Answered", "InCall", "HangingUp", SYNCED,
    ]
    assert "*71{number}" in path[1].label
    assert table(PROFILES["yeastar"], "yeastar/cfa/phone-initiated").mechanism is (
        Mechanism.FEATURE_CODE
    )


def test_feature_code_with_provisional_and_challenge() -> None:
    flow = table(PROFILES["3cx"], "3cx/dnd/phone-initiated")
    via = shortest_path(flow, "Inviting", "Answered")
    assert via is not None and inputs_of(via) == (I.SERVER_SENDS_2XX,)
    assert flow.dest("Inviting", I.SERVER_SENDS_1XX) == "Proceeding"
    assert flow.dest("Proceeding", I.SERVER_SENDS_1XX) == "Proceeding"
    assert flow.dest("Inviting", I.SERVER_SENDS_CHALLENGE) == "Challenged"
    assert flow.transition("Inviting", I.SERVER_SENDS_CHALLENGE).status == 407  # 3cx profile
    assert flow.dest("Challenged", I.PHONE_SENDS_INVITE) == "Authenticating"
    assert flow.dest("Authenticating", I.SERVER_SENDS_2XX) == "Answered"
    assert flow.dest("Authenticating", I.SERVER_SENDS_CHALLENGE) == FAILED
    assert flow.dest("Inviting", I.SERVER_SENDS_ERROR) == FAILED
    assert flow.dest("InCall", I.SERVER_SENDS_BYE) == "ServerHungUp"
    ims = table(PROFILES["huawei-ims"], "huawei-ims/cfa/phone-initiated")
    assert "Challenged" not in ims.states  # IMS: code INVITEs not challenged (profile)


def test_uacsta_flows() -> None:
    info = table(PROFILES["3cx"], "3cx/dnd/server-initiated")
    assert info.mechanism is Mechanism.UACSTA and info.goal == INFORMED
    assert happy(PROFILES["3cx"], "3cx/dnd/server-initiated") == [
        I.SERVER_ADMIN_CHANGE, I.SERVER_SENDS_INFO, I.PHONE_SENDS_200,
    ]
    assert SYNCED not in info.states  # informational: the phone's state is unchanged
    assert happy(PROFILES["3cx"], "3cx/uacsta-session") == [
        I.SERVER_SENDS_INVITE, I.PHONE_SENDS_200, I.SERVER_SENDS_ACK, I.SERVER_SENDS_INFO,
        I.PHONE_SENDS_200,
    ]
    assert happy_path(table(PROFILES["3cx"], "3cx/uacsta-session"))[3].label == (
        "INFO (MonitorStart)"
    )


def test_registration_with_and_without_challenge() -> None:
    assert happy(PROFILES["broadsoft"], "broadsoft/registration") == [
        I.PHONE_SENDS_REGISTER, I.SERVER_SENDS_CHALLENGE, I.PHONE_SENDS_REGISTER,
        I.SERVER_SENDS_2XX,
    ]
    reg = table(PROFILES["broadsoft"], "broadsoft/registration")
    assert [r.dest for r in happy_path(reg)] == [
        "Registering", "Challenged", "Authenticating", "Registered",
    ]
    # challenged again (a new nonce: stale, a registrar restart): any number of times
    assert reg.dest("Authenticating", I.SERVER_SENDS_CHALLENGE) == "Challenged"
    assert reg.dest("Refreshing", I.SERVER_SENDS_CHALLENGE) == "Challenged"
    assert not reg.allows("Registering", I.SERVER_SENDS_2XX)  # a challenging registrar
    # the de-REGISTER is challenged like any REGISTER, then sent with credentials
    assert reg.dest("Unregistering", I.SERVER_SENDS_CHALLENGE) == "UnregisterChallenged"
    assert reg.dest("UnregisterChallenged", I.PHONE_SENDS_UNREGISTER) == (
        "UnregisterAuthenticating")
    assert reg.dest("UnregisterAuthenticating", I.SERVER_SENDS_2XX) == "Unregistered"
    assert reg.dest("UnregisterAuthenticating", I.SERVER_SENDS_CHALLENGE) == (
        "UnregisterChallenged")


def test_subscription_lifecycle() -> None:
    sub = table(PROFILES["broadsoft"], "broadsoft/subscription")
    assert happy(PROFILES["broadsoft"], "broadsoft/subscription") == [
        I.PHONE_SENDS_SUBSCRIBE, I.SERVER_SENDS_2XX, I.SERVER_SENDS_NOTIFY, I.PHONE_SENDS_200,
    ]
    assert sub.dest("Subscribing", I.SERVER_SENDS_489) == "RetryWait"
    assert sub.dest("Subscribing", I.PHONE_TIMEOUT) == "RetryWait"
    assert sub.dest("RetryWait", I.PHONE_SENDS_SUBSCRIBE) == "Subscribing"
    assert sub.dest("Active", I.PHONE_SENDS_SUBSCRIBE) == "Refreshing"
    assert sub.dest("Refreshing", I.SERVER_SENDS_481) == "Unsubscribed"
    assert sub.dest("Refreshing", I.SERVER_SENDS_ERROR) == "Active"
    # the NOTIFY may come before the 200 (UDP reordering)
    early = shortest_path(sub, "Subscribing", "Active")
    assert early is not None
    race = [I.SERVER_SENDS_NOTIFY, I.PHONE_SENDS_200, I.SERVER_SENDS_2XX]
    state = "Subscribing"
    for step in race:
        state = sub.dest(state, step)
    assert state == "Active"
    state = "Subscribing"
    for step in (I.SERVER_SENDS_NOTIFY, I.SERVER_SENDS_2XX, I.PHONE_SENDS_200):
        state = sub.dest(state, step)
    assert state == "Active"
    # unsubscribe: 2xx and the terminated NOTIFY, in either order
    for order in (
        (I.SERVER_SENDS_2XX, I.SERVER_SENDS_NOTIFY_TERMINATED, I.PHONE_SENDS_200),
        (I.SERVER_SENDS_NOTIFY_TERMINATED, I.PHONE_SENDS_200, I.SERVER_SENDS_2XX),
    ):
        state = sub.dest("Active", I.PHONE_SENDS_UNSUBSCRIBE)
        for step in order:
            state = sub.dest(state, step)
        assert state == "Terminated"


def test_change_notify_is_not_a_subscription_input() -> None:
    sub = table(PROFILES["broadsoft"], "broadsoft/subscription")
    assert not sub.allows("Active", I.SERVER_SENDS_NOTIFY)  # routed to a feature flow
    with pytest.raises(IllegalTransition) as caught:
        sub.dest("Active", I.SERVER_SENDS_NOTIFY)
    assert caught.value.state == "Active" and caught.value.table is sub
    assert I.PHONE_SENDS_SUBSCRIBE in caught.value.allowed
    assert str(caught.value).startswith(
        "broadsoft/subscription: SERVER_SENDS_NOTIFY is not allowed in state Active; allowed: "
    )


def test_phone_initiated_notify_may_overtake_the_2xx() -> None:
    flow = table(PROFILES["broadsoft"], "broadsoft/dnd/phone-initiated")
    state = "SetRequestSent"
    for step in (I.SERVER_SENDS_NOTIFY, I.PHONE_SENDS_200, I.SERVER_SENDS_2XX):
        state = flow.dest(state, step)
    assert state == SYNCED
    assert flow.dest("SetRequestSent", I.SERVER_SENDS_ERROR) == FAILED
    assert flow.dest("SetRequestSent", I.PHONE_TIMEOUT) == FAILED
    assert flow.dest("AwaitingConfirm", I.PHONE_TIMEOUT) == FAILED
    assert "reverts" in flow.transition("SetRequestSent", I.SERVER_SENDS_ERROR).note


def test_line_gating() -> None:
    gated = table(PROFILES["broadsoft"], "broadsoft/line")
    assert gated.initial == "Local"  # guide: off by default
    assert gated.dest("Local", I.PHONE_USER_CHANGE) == "Local"  # executed locally
    assert gated.dest("Local", I.PHONE_ENABLES_SYNC) == "SyncEnabled"
    assert not gated.allows("SyncEnabled", I.PHONE_USER_CHANGE)
    fortinet = table(PROFILES["fortinet"], "fortinet/line")
    assert fortinet.states == ("SyncAlwaysOn",)
    assert fortinet.dest("SyncAlwaysOn", I.PHONE_DISABLES_SYNC) == "SyncAlwaysOn"
    assert happy_path(fortinet) == ()


def test_flow_table_refuses_unsynced_directions() -> None:
    with pytest.raises(KeyError):
        flow_table(PROFILES["yeastar"], Feature.DND, Direction.SERVER)
    with pytest.raises(KeyError):
        flow_table(PROFILES["3cx"], Feature.CFA, Direction.SERVER)


# --- profile knobs really change the tables ---------------------------------------------


def test_202_versus_200() -> None:
    bsft = PROFILES["broadsoft"]
    accepted = with_answers(bsft, 202, 202)
    sub200 = table(bsft, "broadsoft/subscription")
    sub202 = table(accepted, "broadsoft/subscription")
    assert sub200 != sub202
    assert sub200.transition("Subscribing", I.SERVER_SENDS_2XX).status == 200
    answer = sub202.transition("Subscribing", I.SERVER_SENDS_2XX)
    assert (answer.status, answer.label) == (202, "202 Accepted")
    flow = table(accepted, "broadsoft/dnd/phone-initiated")
    assert flow.transition("SetRequestSent", I.SERVER_SENDS_2XX).status == 202
    assert inputs_of(happy_path(flow)) == inputs_of(
        happy_path(table(bsft, "broadsoft/dnd/phone-initiated"))
    )


def test_per_feature_full_state_has_four_notifies() -> None:
    meta = PROFILES["metaswitch"]
    assert meta.afe is not None
    assert meta.afe.notify.full_state.value is FullStateEncoding.PER_FEATURE
    path = happy_path(table(meta, "metaswitch/subscription"))
    notifies = [r for r in path if r.input is I.SERVER_SENDS_NOTIFY]
    assert len(notifies) == 4
    assert [r.feature for r in notifies] == [Feature.CFA, Feature.CFB, Feature.CFNA, Feature.DND]
    assert notifies[0].label == "NOTIFY (ForwardingEvent forwardImmediate, full state)"
    assert [r.dest for r in path][:3] == ["Subscribing", "AwaitingCfaState", "CfaStateNotified"]
    multipart = with_full_state(meta, FullStateEncoding.MULTIPART)
    path = happy_path(table(multipart, "metaswitch/subscription"))
    assert [r.input for r in path].count(I.SERVER_SENDS_NOTIFY) == 1
    assert "multipart/mixed" in path[2].label


def test_policy_reject_ends_reverted() -> None:
    rejecting = PROFILES["broadsoft"].with_policy(PolicyMode.REJECT)
    flow = table(rejecting, "broadsoft/cfb/phone-initiated")
    assert flow.goal == REVERTED
    assert list(inputs_of(happy_path(flow))) == [
        I.PHONE_USER_CHANGE, I.PHONE_SENDS_SUBSCRIBE_SET, I.SERVER_SENDS_2XX,
        I.SERVER_SENDS_NOTIFY_OLD_STATE, I.PHONE_SENDS_200,
    ]
    assert SYNCED not in flow.states
    # under accept, a NOTIFY with the old state is illegal: the server ignored the change
    accepting = table(PROFILES["broadsoft"], "broadsoft/cfb/phone-initiated")
    assert not accepting.allows("AwaitingConfirm", I.SERVER_SENDS_NOTIFY_OLD_STATE)
    assert not flow.allows("AwaitingConfirm", I.SERVER_SENDS_NOTIFY)
    # server-initiated flows do not depend on the policy
    assert table(rejecting, "broadsoft/cfb/server-initiated") == table(
        PROFILES["broadsoft"], "broadsoft/cfb/server-initiated"
    )


def test_policy_error_ends_failed_with_the_status() -> None:
    for pid, key in (("broadsoft", "broadsoft/dnd/phone-initiated"),
                     ("yeastar", "yeastar/dnd/phone-initiated")):
        erring = PROFILES[pid].with_policy(PolicyMode.ERROR, 480)
        flow = table(erring, key)
        assert flow.goal == FAILED and SYNCED not in flow.states
        last = happy_path(flow)[-1]
        assert (last.input, last.status, last.label) == (
            I.SERVER_SENDS_ERROR, 480, "480 Temporarily Unavailable",
        )


def test_executed_non_2xx_status() -> None:
    plain = table(PROFILES["generic-feature-code"], "generic-feature-code/dnd/phone-initiated")
    assert I.SERVER_SENDS_FINAL_EXECUTED not in plain.inputs
    executing = with_executed(PROFILES["generic-feature-code"], "2xx", "486")
    flow = table(executing, "generic-feature-code/dnd/phone-initiated")
    assert flow.dest("Inviting", I.SERVER_SENDS_FINAL_EXECUTED) == SYNCED
    assert flow.dest("Proceeding", I.SERVER_SENDS_FINAL_EXECUTED) == SYNCED
    assert flow.dest("Inviting", I.SERVER_SENDS_ERROR) == FAILED


def test_default_sync_on_starts_enabled() -> None:
    line = table(with_default_sync(PROFILES["yeastar"]), "yeastar/line")
    assert line.initial == "SyncEnabled" and happy_path(line) == ()


def test_no_challenge_removes_the_branch() -> None:
    plain = without_challenges(PROFILES["3cx"])
    reg = table(plain, "3cx/registration")
    assert "Challenged" not in reg.states and "Authenticating" not in reg.states
    assert happy(plain, "3cx/registration") == [I.PHONE_SENDS_REGISTER, I.SERVER_SENDS_2XX]
    assert "Challenged" not in table(plain, "3cx/dnd/phone-initiated").states


def test_a_2xx_between_an_early_confirm_and_its_answer_is_allowed() -> None:
    """Over UDP the confirming NOTIFY may overtake the 2xx, and the 2xx may then arrive
    before the phone has answered that NOTIFY: both orders lead to the same end."""
    for vendor in ("broadsoft", "metaswitch"):
        dnd = table(PROFILES[vendor], f"{vendor}/dnd/phone-initiated")
        assert dnd.dest("ConfirmBeforeAnswer", I.SERVER_SENDS_2XX) == "ConfirmReceived"
        assert dnd.dest("ConfirmReceived", I.PHONE_SENDS_200) == SYNCED

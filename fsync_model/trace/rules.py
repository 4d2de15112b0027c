"""The rules ``fsync check`` applies to a capture, and the record of one rule firing.

Three oracles judge every message of a capture (see :mod:`fsync_model.trace.replay`):

* the strict RFC checker (:mod:`fsync_model.sip.checker`): its rule ids (``RFC3261-*``,
  ``RFC6665-*``, ``SIP-PARSE``) on every message and every request/response pair;
* the profile's body rules (:mod:`fsync_model.bodies.feature_event`, ``AFE-*``, ``XML-*``,
  ``BODY-*``; :mod:`fsync_model.bodies.csta`, ``CSTA-*``) on every as-feature-event and
  uaCSTA body, with the profile's namespaces and ring-count range;
* the model: each message becomes an `Input` of a table, stepped on neutral `FlowTracker`s,
  plus the rules the agents apply outside the tables (one change in flight, a set request
  only on an active subscription, full-state content, convergence at the end). Their ids are
  defined here.

Rule ids are stable (CI pipelines match on them); new ones may be added, none renamed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fsync_model.bodies import csta
from fsync_model.bodies import feature_event as fe
from fsync_model.findings import Severity
from fsync_model.sip import checker

# -- the model and the rules the agents apply beside the tables ----------------------------

#: a message the table of its machine does not allow in the machine's state
MODEL_ILLEGAL = "MODEL-ILLEGAL-TRANSITION"
#: a feature flow ended in a final state other than the table's goal (Failed for Synced)
MODEL_NOT_GOAL = "MODEL-NOT-GOAL"
#: a registration or subscription failed (REGISTER refused, 489 Bad Event...)
MODEL_LIFECYCLE_FAILED = "MODEL-LIFECYCLE-FAILED"
#: a request without a final answer, or a set request without its confirming NOTIFY, long
#: after the timer the model allows for it
MODEL_TIMEOUT = "MODEL-TIMEOUT"
#: a flow still running when the capture ends (the capture may have been stopped early)
MODEL_INCOMPLETE = "MODEL-INCOMPLETE"
#: a status other than the one the profile says its server sends (202 for 200, 407 for 401)
MODEL_STATUS = "MODEL-STATUS"
#: a set request while the line's subscription was not active
AFE_SET_NO_SUBSCRIPTION = "AFE-SET-NO-SUBSCRIPTION"
#: a set request outside the subscription dialog where the profile sends it inside
AFE_SET_OUT_OF_DIALOG = "AFE-SET-OUT-OF-DIALOG"
#: a set request while another change of the same line was in flight
AFE_SET_PARALLEL = "AFE-SET-PARALLEL"
#: a change of a feature the profile does not sync in that direction
FEATURE_NOT_SYNCED = "FEATURE-NOT-SYNCED"
#: a full-state NOTIFY (or the series of per-feature NOTIFYs) without one of the features
AFE_FULLSTATE_MISSING = "AFE-FULLSTATE-MISSING"
#: the full state in another order than the profile's full_state_order
AFE_FULLSTATE_ORDER = "AFE-FULLSTATE-ORDER"
#: a change NOTIFY carrying more than the affected feature
AFE_CHANGE_EXTRA = "AFE-CHANGE-EXTRA"
#: a NOTIFY of an active subscription without a body outside the full state
AFE_NOTIFY_NO_BODY = "AFE-NOTIFY-NO-BODY"
#: an INVITE to a star/hash code the profile does not know
CODE_UNKNOWN = "CODE-UNKNOWN"
#: a code INVITE while another change of the same line was in flight (the loop of protocol 3)
CODE_PARALLEL = "CODE-PARALLEL"
#: phone and server disagree about a feature at the end of the capture
SYNC_DIVERGED = "SYNC-DIVERGED"
#: the capture itself is damaged (truncated, corrupt block, TCP gap): what follows is partial
CAPTURE_PROBLEM = "CAPTURE-PROBLEM"

MODEL_RULES: dict[str, str] = {
    MODEL_ILLEGAL: "a message the transition table of its flow does not allow in the flow's "
    "state (e.g. a NOTIFY with the old state after a 200 to the set request under policy "
    "accept)",
    MODEL_NOT_GOAL: "a feature flow ended in a final state other than the one the profile "
    "expects (Failed instead of Synced: a set request or code INVITE refused, a NOTIFY "
    "refused by the phone)",
    MODEL_LIFECYCLE_FAILED: "a registration or subscription failed (REGISTER refused, "
    "SUBSCRIBE answered 489 or another error)",
    MODEL_TIMEOUT: "no final answer to a request within 64*T1 (32 s), or no confirming "
    "NOTIFY within the profile's confirm_timeout, while the capture went on",
    MODEL_INCOMPLETE: "a flow was still running when the capture ended (warning: the "
    "capture may have been stopped early)",
    MODEL_STATUS: "a status other than the one the profile's server sends (202 for 200, "
    "407 for 401, another error status than the policy's); a phone accepts both (warning)",
    AFE_SET_NO_SUBSCRIPTION: "a set request while the line's as-feature-event subscription "
    "was not active",
    AFE_SET_OUT_OF_DIALOG: "a set request outside the subscription dialog where the profile "
    "(set_request.in_dialog) sends it inside",
    AFE_SET_PARALLEL: "a set request while another change of the same line was in flight "
    "(warning: the reference phone keeps one change in flight)",
    FEATURE_NOT_SYNCED: "a change of a feature the profile does not sync in that direction",
    AFE_FULLSTATE_MISSING: "the full state (one multipart NOTIFY, or one NOTIFY per feature) "
    "does not report every feature of full_state_order",
    AFE_FULLSTATE_ORDER: "the full state reports the features in another order than the "
    "profile's full_state_order (warning)",
    AFE_CHANGE_EXTRA: "a change NOTIFY carries more than the affected feature (protocol 1.2; "
    "warning)",
    AFE_NOTIFY_NO_BODY: "a NOTIFY of an active subscription without a body, outside the "
    "full state and the final NOTIFY (warning)",
    CODE_UNKNOWN: "an INVITE to a star or hash code that is none of the profile's feature "
    "codes",
    CODE_PARALLEL: "a code INVITE while another change of the same line was in flight "
    "(protocol 3: parallel code calls loop)",
    SYNC_DIVERGED: "at the end of the capture the phone's state (its set requests, code "
    "calls and the NOTIFYs it accepted) and the server's (its NOTIFYs, the codes it "
    "executed) differ",
    CAPTURE_PROBLEM: "the capture is damaged (truncated or corrupt record, TCP gap, IP "
    "fragments): messages may be missing (warning)",
}

#: every rule ``fsync check`` can report, by id, with its description
RULES: dict[str, str] = {**checker.RULES, **fe.RULES, **MODEL_RULES}
RULES.update({
    csta.CSTA_CONCATENATED: "several XML documents in one uaCSTA body",
    csta.CSTA_NS_MISSING: "uaCSTA root element without namespace",
    csta.CSTA_NS_UNKNOWN: "uaCSTA root element in a namespace that is not ECMA-323",
    csta.CSTA_NS_EDITION: "another ECMA-323 edition's namespace (accepted)",
    csta.CSTA_ROOT_UNKNOWN: "uaCSTA root element this tool does not know",
    csta.CSTA_BOOL_INVALID: "uaCSTA doNotDisturbOn that is not a boolean",
})


def rule_families() -> dict[str, list[str]]:
    """The rule ids grouped by oracle, for ``fsync check --list-rules``."""
    return {
        "RFC 3261 / RFC 6665 (strict checker)": sorted(checker.RULES),
        "profile body rules (as-feature-event, uaCSTA)": sorted(
            [*fe.RULES, csta.CSTA_CONCATENATED, csta.CSTA_NS_MISSING, csta.CSTA_NS_UNKNOWN,
             csta.CSTA_NS_EDITION, csta.CSTA_ROOT_UNKNOWN, csta.CSTA_BOOL_INVALID]),
        "model (transition tables) and sync": list(MODEL_RULES),
    }


@dataclass(frozen=True)
class Deviation:
    """One rule firing on one message of a capture.

    ``packet`` and ``time`` are the capture's (Wireshark's frame number, absolute seconds);
    both are None for a deviation about the whole capture. ``message`` is the first line of
    the SIP message concerned; ``expected`` says what the rule wanted instead.
    """

    rule: str
    severity: Severity
    packet: int | None
    time: float | None
    message: str
    expected: str
    user: str | None = None
    evidence: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "packet": self.packet,
            "time": None if self.time is None else round(self.time, 6),
            "message": self.message,
            "expected": self.expected,
            "severity": self.severity,
            "user": self.user,
            "evidence": self.evidence,
        }

"""Ladders used by the diagram tests and for looking at the output (the guide's lost figures)."""

from __future__ import annotations

from fsync_model.diagrams.ladder import Arrow, Ladder, Lifeline, Note

PHONE = Lifeline("phone", "Phone", "udp:127.0.0.1:5070")
SERVER = Lifeline("server", "BroadSoft AS", "udp:127.0.0.1:5060")


def dnd_set_at_phone() -> Ladder:
    """BroadSoft: DND switched on at the phone (guide figure "DND switched on/off at the phone")."""
    call_id = "Call-ID: 3c26700f51a3e1d8b5a@127.0.0.1"
    return Ladder(
        title="BroadSoft DND switched on at the phone",
        lifelines=(PHONE, SERVER),
        items=(
            Arrow(
                "phone",
                "server",
                "SUBSCRIBE",
                (
                    "Event: as-feature-event",
                    "CSeq: 2 SUBSCRIBE",
                    call_id,
                    "From: <sip:2000@127.0.0.1>;tag=9fe3a1b27c",
                    "doNotDisturbOn=true",
                ),
                time=12.500,
                packet=12,
            ),
            Note(("phone",), "DND on (pending)", "state"),
            Arrow(
                "server",
                "phone",
                "200 OK",
                (
                    "CSeq: 2 SUBSCRIBE",
                    "Expires: 3600",
                ),
                time=12.534,
                packet=13,
            ),
            Arrow(
                "server",
                "phone",
                "NOTIFY",
                (
                    "Event: as-feature-event",
                    "Subscription-State: active;expires=3599",
                    "CSeq: 1 NOTIFY",
                    "doNotDisturbOn=true",
                ),
                time=12.561,
                packet=14,
            ),
            Arrow("phone", "server", "200 OK", ("CSeq: 1 NOTIFY",), time=12.563, packet=15),
            Note(("phone",), "DND on (confirmed)", "state"),
        ),
        caption="Figure: DND switched on at the phone. The phone reports the new state in a "
        "SUBSCRIBE; the server confirms it with a NOTIFY carrying the latest state.",
    )


def faults_and_three_parties() -> Ladder:
    """Lost, retransmitted and error messages, a self-message and a span over three lifelines."""
    proxy = Lifeline("proxy", "Proxy", "tcp:[2001:db8::10]:5060")
    return Ladder(
        title="Forward on no answer set at the phone, through a proxy, with faults",
        lifelines=(PHONE, proxy, SERVER),
        items=(
            Arrow(
                "phone",
                "server",
                "SUBSCRIBE sip:2000@as.example.com SIP/2.0",
                (
                    "Event: as-feature-event",
                    "Call-ID: 88f1c0de5a5a4b7e@10.0.0.5",
                    "callForwardingNoAnswer: forwardTo=2001 ringCount=4",
                ),
                time=0.0,
                packet=1,
                style="lost",
            ),
            Arrow(
                "phone",
                "server",
                "SUBSCRIBE",
                ("Event: as-feature-event",),
                time=0.5,
                packet=2,
                style="retransmission",
            ),
            Arrow("phone", "phone", "timer E fired", ("T1 = 500 ms", "next: 1000 ms"), time=0.5),
            Arrow(
                "server",
                "proxy",
                "SIP/2.0 489 Bad Event",
                ("Allow-Events: presence",),
                time=0.52,
                packet=3,
                style="error",
            ),
            Arrow("proxy", "phone", "489 Bad Event", (), time=0.53, packet=4, style="error"),
            Note(
                ("phone", "server"),
                "Finding: the server rejected as-feature-event; the "
                "forward stays set at the phone only & <unsynchronised>",
                "finding",
            ),
            Note(("proxy",), "info: a note over the middle lifeline", "info"),
        ),
        caption="A ladder with every arrow style.",
    )

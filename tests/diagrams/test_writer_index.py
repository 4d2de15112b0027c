"""The diagram set: one figure per machine of every profile, guide captions, unconfirmed
settings, expected ladders from the tables, the index page, and the stamp on every file."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from fsync_model.diagrams.index import (
    Figure,
    expected_flow,
    figures,
    flow_recording,
    readme,
    recorded_flow,
)
from fsync_model.diagrams.ladder import Arrow, Note
from fsync_model.diagrams.writer import GENERATOR_MARK, diagram_files
from fsync_model.model import happy_path, machines_for
from fsync_model.profile import Profile, load_all
from tests.diagrams.test_messages_support import dnd_phone_initiated

PROFILES = load_all()
FIGURES = figures(PROFILES.values())
BY_KEY = {str(figure.key): figure for figure in FIGURES}


def _profile(name: str) -> Profile:
    return PROFILES[name]


def test_one_figure_per_machine_of_every_profile_in_guide_order() -> None:
    expected = {str(key) for p in PROFILES.values() for key in machines_for(p)}
    assert set(BY_KEY) == expected and len(FIGURES) == len(expected)
    assert [f.number for f in FIGURES] == list(range(1, len(FIGURES) + 1))
    systems = list(dict.fromkeys(f.system for f in FIGURES))
    assert systems[:5] == ["broadsoft", "metaswitch", "fortinet", "3cx", "yeastar"]


def test_guide_captions_where_the_guide_had_a_figure() -> None:
    def caption(key: str) -> str | None:
        guide = BY_KEY[key].guide
        return guide.caption if guide else None

    assert caption("broadsoft/dnd/phone-initiated") == "DND switched on/off at the phone"
    assert caption("broadsoft/dnd/server-initiated") == "packet capture"
    assert caption("broadsoft/cfna/phone-initiated") == "no-answer forward set at the phone"
    assert caption("broadsoft/cfa/server-initiated") is None
    assert caption("metaswitch/cfb/phone-initiated") == "one per feature and direction"
    assert caption("fortinet/dnd/server-initiated") == "DND state notification"
    assert caption("yeastar/dnd/phone-initiated") == "phone DND operation sends INVITE"
    assert caption("3cx/dnd/server-initiated") == (
        "uaCSTA notification when DND is enabled on the server"
    )
    assert caption("zte-ims/line") == "Web settings item"
    assert caption("broadsoft/subscription") == "NOTIFY updates"


def test_unconfirmed_settings_follow_the_flow() -> None:
    def paths(key: str) -> set[str]:
        return {path for path, _ in BY_KEY[key].unconfirmed}

    assert "as_feature_event.ring_count.max" in paths("broadsoft/cfna/phone-initiated")
    assert "as_feature_event.ring_count.max" not in paths("broadsoft/dnd/phone-initiated")
    assert "as_feature_event.set_request.confirm_timeout" in paths("broadsoft/dnd/phone-initiated")
    assert "as_feature_event.set_request.confirm_timeout" not in paths(
        "broadsoft/dnd/server-initiated"
    )
    assert "as_feature_event.notify.full_state" in paths("broadsoft/subscription")
    assert paths("huawei-ims/cfb/phone-initiated") >= {
        "feature_codes.codes.cfb.activate",
        "feature_codes.codes.cfb.deactivate",
    }
    assert not any(".codes.dnd." in p for p in paths("huawei-ims/cfb/phone-initiated"))
    assert paths("yeastar/registration") == set()
    every = {p for f in FIGURES if f.system == "huawei-ims" for p, _ in f.unconfirmed}
    assert every <= {p for p, _ in _profile("huawei-ims").unconfirmed()}


@pytest.mark.parametrize("figure", FIGURES, ids=list(BY_KEY))
def test_expected_ladder_is_the_happy_path(figure: Figure) -> None:
    recording = expected_flow(figure)
    assert recording.origin == "transition table"
    path = happy_path(figure.table)
    arrows = recording.ladder.arrows
    wire = [row for row in path if row.input.on_wire]
    assert len(arrows) == len(wire)
    for arrow, row in zip(arrows, wire, strict=True):
        assert (arrow.src, arrow.dst) == (row.input.actor.value, row.input.actor.peer.value)
        assert row.label.startswith(arrow.label)
    states = [i.text for i in recording.ladder.items if isinstance(i, Note) and i.kind == "state"]
    assert states == [figure.table.initial, *(row.dest for row in path)]
    assert all(row.label in recording.text for row in path)


@pytest.mark.parametrize("figure", FIGURES, ids=list(BY_KEY))
def test_published_ladders_are_runs_of_the_reference_agents(figure: Figure) -> None:
    """Every figure that sends anything is drawn from a real run; its first message is the
    first message the table's path sends (the line setting sends nothing)."""
    recording = flow_recording(figure)
    wire = [row for row in happy_path(figure.table) if row.input.on_wire]
    if not wire:
        assert recording.origin == "transition table"
        return
    assert recording.origin == "reference agents"
    first = recording.ladder.arrows[0].label.split()[0]
    assert wire[0].label.split()[0] == first
    assert len(recording.ladder.arrows) >= len(wire)


def test_expected_ladder_splits_long_labels_into_details() -> None:
    ladder = expected_flow(BY_KEY["metaswitch/subscription"]).ladder
    first = ladder.arrows[0]
    assert first.label == "SUBSCRIBE"
    assert first.details[:3] == ("Event: as-feature-event", "no body", "Expires: 3600")


def test_recorded_flow_draws_real_messages() -> None:
    recording = recorded_flow(BY_KEY["broadsoft/dnd/phone-initiated"], dnd_phone_initiated())
    assert recording.origin == "reference agents"
    assert [a.label for a in recording.ladder.arrows] == ["SUBSCRIBE", "200 OK", "NOTIFY", "200 OK"]
    assert recording.text.count("SIP/2.0") >= 4 and "\r" not in recording.text
    assert recording.text.startswith("#1  +0.000 s  udp:127.0.0.1:5070 -> udp:127.0.0.1:5060\n")
    assert isinstance(recording.ladder.items[0], Arrow)


def test_readme_links_every_file_and_marks_unconfirmed_settings() -> None:
    page = readme(FIGURES)
    for figure in FIGURES:
        assert f"### Figure {figure.number}. " in page
        for suffix in (
            "ladder.svg",
            "ladder.mmd",
            "ladder.puml",
            "messages.txt",
            "state.dot",
            "state.svg",
        ):
            assert f"]({figure.path(suffix)})" in page
    sections = [line for line in page.splitlines() if line.startswith("## ")]
    assert sections[1:4] == ["## BroadSoft BroadWorks", "## Metaswitch", "## Fortinet FortiVoice"]
    assert "\u26a0 **Unconfirmed profile settings**" in page
    assert "`as_feature_event.ring_count.max` = `10` ([spec/broadsoft.yaml:68]" in page
    assert "Guide figure \u201cDND switched on/off at the phone\u201d" in page
    assert "| DND | `*74` | `*074` |" in page  # Yeastar's code settings, redrawn
    without_svg = readme(FIGURES, has_svg=False)
    assert "state.svg" not in without_svg


def test_every_file_is_stamped_with_its_spec_file() -> None:
    generated = diagram_files([_profile("broadsoft"), _profile("yeastar")])
    files = generated.files
    assert generated.figures == 17 and generated.systems == 2
    assert files["README.md"].startswith("<!-- generated from spec/*.yaml by fsync diagrams")
    for path, text in files.items():
        head = "\n".join(text.splitlines()[:3])
        assert GENERATOR_MARK in head, path
        if path != "README.md":
            assert f"spec/{path.split('/')[0]}.yaml" in head, path
    for path, text in files.items():
        if path.endswith(".svg"):
            ET.fromstring(text.encode())  # the stamp keeps the SVG well-formed
    assert files["yeastar/dnd-phone-initiated.ladder.mmd"].splitlines()[0] == "sequenceDiagram"
    assert files["yeastar/dnd-phone-initiated.ladder.puml"].splitlines()[0] == "@startuml"
    again = diagram_files([_profile("yeastar"), _profile("broadsoft")])
    assert again.files == files  # deterministic, whatever the order profiles come in

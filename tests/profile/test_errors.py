"""Broken profiles fail with one ProfileError naming file, line and field."""
from __future__ import annotations

from pathlib import Path

import pytest

from fsync_model.profile import ProfileError, load_all, load_profile

from .conftest import SPEC, BrokenLoader, line_of


def fails(load: BrokenLoader, name: str, old: str, new: str) -> ProfileError:
    with pytest.raises(ProfileError) as caught:
        load(name, old, new)
    return caught.value


def test_wrong_enum_value_names_file_line_field(load_edited: BrokenLoader) -> None:
    line = line_of("yeastar", "cfna: {directions: [phone]}")
    error = fails(load_edited, "yeastar", "cfna: {directions: [phone]}",
                  "cfna: {directions: [phone, srv]}")
    assert str(error) == (
        f"spec/yeastar.yaml:{line}: features.cfna.directions[1]: "
        "'srv' is not one of ['server', 'phone']"
    )
    assert (error.file, error.line, error.field) == ("spec/yeastar.yaml", line,
                                                     "features.cfna.directions[1]")


def test_wrong_value_inside_an_unconfirmed_wrapper(load_edited: BrokenLoader) -> None:
    line = line_of("broadsoft", "max: {value: 10,")
    error = fails(load_edited, "broadsoft", "max: {value: 10,", "max: {value: ten,")
    assert str(error).startswith(
        f"spec/broadsoft.yaml:{line}: as_feature_event.ring_count.max.value: "
        "'ten' is not of type 'integer'"
    )


def test_misspelt_wrapper_key(load_edited: BrokenLoader) -> None:
    error = fails(load_edited, "broadsoft", "max: {value: 10,", "max: {valeu: 10,")
    assert error.field == "as_feature_event.ring_count.max.valeu"
    assert "unknown key 'valeu'; allowed: note, unconfirmed, value" in str(error)


def test_unknown_key_points_at_the_key(load_edited: BrokenLoader) -> None:
    line = line_of("yeastar", "retry_after: 30")
    error = fails(load_edited, "yeastar", "  retry_after: 30\n", "  retry_after: 30\n  colour: 1\n")
    assert str(error) == (
        f"spec/yeastar.yaml:{line + 1}: registration.colour: unknown key 'colour'; "
        "allowed: challenge, expires, realm, retry_after"
    )


def test_missing_field(load_edited: BrokenLoader) -> None:
    error = fails(load_edited, "yeastar", "purpose_code: YSTR\n", "")
    assert error.field == "(top)" and error.problem == "missing required key 'purpose_code'"
    answer = "    answer: 200                                        # guide DND 2"
    nested = fails(load_edited, "broadsoft", answer, "    # answer removed")
    assert nested.field == "as_feature_event.set_request"
    assert nested.line == line_of("broadsoft", "set_request:")
    assert nested.problem == "missing required key 'answer'"


def test_missing_mechanism_block(load_edited: BrokenLoader) -> None:
    error = fails(load_edited, "3cx", "uacsta:\n", "uacsta_moved:\n")
    assert (error.line, error.field) == (line_of("3cx", "mechanisms:"), "mechanisms")
    assert error.problem == (
        "the mechanisms listed need the block 'uacsta' (and 1 more problem)"  # + unknown key
    )


def test_bad_yaml_syntax(load_edited: BrokenLoader) -> None:
    line = line_of("yeastar", "mechanisms: [feature-code]")
    error = fails(load_edited, "yeastar", "mechanisms: [feature-code]", "mechanisms: [feature-code")
    # the parser notices two lines later, and says where the flow sequence started
    assert str(error) == (
        f"spec/yeastar.yaml:{line + 2}: (yaml): while parsing a flow sequence (started at "
        f"line {line}): expected ',' or ']', but got ':'"
    )


def test_unquoted_star_code_is_a_yaml_alias(load_edited: BrokenLoader) -> None:
    error = fails(load_edited, "yeastar", 'dnd:  {activate: "*74"', "dnd:  {activate: *74")
    assert error.field == "(yaml)" and "alias" in error.problem


def test_yaml_boolean_key(load_edited: BrokenLoader) -> None:
    error = fails(load_edited, "yeastar", 'deactivate: "*074"', 'off: "*074"')
    assert error.field == "feature_codes.codes.dnd" and "quote it" in error.problem


def test_duplicate_key(load_edited: BrokenLoader) -> None:
    line = line_of("yeastar", "  challenge: 401")
    error = fails(
        load_edited, "yeastar", "  challenge: 401\n", "  challenge: 401\n  challenge: 407\n",
    )
    assert (error.line, error.field) == (line + 1, "registration.challenge")
    assert error.problem == f"duplicate key (first at line {line})"


def test_empty_and_unreadable_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing\n")
    with pytest.raises(ProfileError, match="empty file"):
        load_profile(empty)
    with pytest.raises(ProfileError, match=r"\(file\)"):
        load_profile(tmp_path / "absent.yaml")
    with pytest.raises(ProfileError, match=r"no \*\.yaml profiles"):
        load_all(tmp_path / "nowhere")


# --- semantic rules the schema cannot express ------------------------------------------


def test_forward_code_needs_number(load_edited: BrokenLoader) -> None:
    line = line_of("yeastar", 'cfa:  {activate: "*71{number}"')
    error = fails(
        load_edited, "yeastar", 'cfa:  {activate: "*71{number}"', 'cfa:  {activate: "*71"',
    )
    assert (error.line, error.field) == (line, "feature_codes.codes.cfa.activate")
    assert "must contain {number}" in error.problem


def test_dnd_code_takes_no_number(load_edited: BrokenLoader) -> None:
    error = fails(
        load_edited, "yeastar", 'dnd:  {activate: "*74"', 'dnd:  {activate: "*74{number}"',
    )
    assert "must contain no placeholder" in error.problem


def test_missing_code_for_declared_feature(load_edited: BrokenLoader) -> None:
    error = fails(
        load_edited, "yeastar", '    cfb:  {activate: "*72{number}", deactivate: "*072"}\n', "",
    )
    assert error.field == "feature_codes.codes"
    assert "missing codes for 'cfb'" in error.problem


def test_ambiguous_codes(load_edited: BrokenLoader) -> None:
    error = fails(
        load_edited, "yeastar", 'cfb:  {activate: "*72{number}"', 'cfb:  {activate: "*7{number}"',
    )
    assert error.problem.startswith("ambiguous:")


def test_ring_range(load_edited: BrokenLoader) -> None:
    line = line_of("broadsoft", "    min: 1")
    error = fails(load_edited, "broadsoft", "    min: 1", "    min: 20")
    assert str(error) == (
        f"spec/broadsoft.yaml:{line}: as_feature_event.ring_count.min: "
        "min 20 is greater than max 10"
    )


def test_server_direction_needs_a_server_mechanism(load_edited: BrokenLoader) -> None:
    error = fails(
        load_edited, "yeastar", "dnd:  {directions: [phone]}", "dnd:  {directions: [server]}",
    )
    assert error.field == "features.dnd.directions[0]"
    assert "phone -> server only" in error.problem


def test_uacsta_only_for_dnd(load_edited: BrokenLoader) -> None:
    error = fails(
        load_edited, "3cx", "cfa:  {directions: [phone]}", "cfa:  {directions: [phone, server]}",
    )
    assert error.field == "features.cfa.directions[1]"


def test_full_state_order_lists_the_features(load_edited: BrokenLoader) -> None:
    error = fails(load_edited, "broadsoft", "full_state_order: [cfa, cfb, cfna, dnd]",
                  "full_state_order: [cfa, cfb, dnd]")
    assert error.field == "as_feature_event.notify.full_state_order"
    assert "missing cfna" in error.problem


def test_id_must_match_file_name(load_edited: BrokenLoader) -> None:
    error = fails(load_edited, "yeastar", "id: yeastar", "id: yeaster")
    assert error.field == "id" and "file name" in error.problem


def test_executed_statuses_need_2xx(load_edited: BrokenLoader) -> None:
    error = fails(load_edited, "3cx", 'executed_statuses: ["2xx"]', 'executed_statuses: ["486"]')
    assert error.field == "feature_codes.executed_statuses"


def test_block_without_mechanism(load_edited: BrokenLoader) -> None:
    error = fails(
        load_edited, "3cx", "mechanisms: [feature-code, uacsta]", "mechanisms: [feature-code]",
    )
    assert (error.line, error.field) == (line_of("3cx", "uacsta:"), "uacsta")
    assert error.problem == "block 'uacsta' but mechanisms does not list 'uacsta'"


def test_subscription_state_placeholders(load_edited: BrokenLoader) -> None:
    error = fails(
        load_edited, "broadsoft", '"active;expires={expires}"', '"active;expires={expire}"',
    )
    assert error.field == "as_feature_event.notify.subscription_state"


def test_defect_subscription_state_is_expressible(load_edited: BrokenLoader) -> None:
    profile = load_edited("broadsoft", '"active;expires={expires}"', '"active, {expires}"')
    assert profile.afe is not None
    assert profile.afe.notify.subscription_state_header(60) == "active, 60"


def test_several_errors_report_the_first_in_file_order(load_edited: BrokenLoader) -> None:
    error = fails(load_edited, "yeastar", "purpose_code: YSTR", "purpose_code: 7")
    assert error.field == "purpose_code"
    assert SPEC.name == "spec"

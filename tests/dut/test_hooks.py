"""The device adapter: templates, safe substitution, timeouts, what a query may print."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from fsync_model.agents.state import Change, FeatureState
from fsync_model.dut.hooks import (
    CONTROL_PLACEHOLDERS,
    CommandTemplate,
    HookError,
    ShellDevice,
    TemplateError,
    control_values,
    parse_state_output,
    run_command,
)


def _control(text: str) -> CommandTemplate:
    return CommandTemplate.parse(text, "--control", CONTROL_PLACEHOLDERS, ("feature", "action"))


def test_values_of_a_change() -> None:
    assert control_values(Change("cfna", True, "3000", 4), "1001") == {
        "feature": "cfna", "action": "on", "target": "3000", "rings": "4", "user": "1001"}
    assert control_values(Change("cfa", False), "1001")["target"] == ""
    assert control_values(Change("dnd", True), "1001")["rings"] == ""


def test_empty_values_vanish_inside_double_quotes() -> None:
    template = _control('curl -d "{feature} {action} {target} {rings}" http://x/command')
    assert template.render(control_values(Change("dnd", True), "1001")) == \
        'curl -d "dnd on  " http://x/command'
    assert template.render(control_values(Change("cfna", True, "3000", 4), "1001")) == \
        'curl -d "cfna on 3000 4" http://x/command'


def test_unsafe_values_are_quoted_and_json_braces_left_alone() -> None:
    template = _control("""send '{"line": "x"}' {feature} {action} {user}""")
    rendered = template.render({"feature": "dnd", "action": "on", "user": "a b;rm -rf /"})
    assert rendered == """send '{"line": "x"}' dnd on 'a b;rm -rf /'"""


@pytest.mark.parametrize(("text", "words"), [
    ("echo {feature} {number}", "{number}"),
    ("echo {action}", "add {feature}"),
    ("   ", "empty"),
])
def test_templates_that_cannot_work(text: str, words: str) -> None:
    with pytest.raises(TemplateError, match=words.replace("{", r"\{").replace("}", r"\}")):
        _control(text)


def test_query_template_takes_only_the_user() -> None:
    with pytest.raises(TemplateError, match="feature"):
        ShellDevice.from_options("echo {feature} {action}", "cat {feature}", timeout=1)


def test_a_hanging_command_is_killed_with_its_children() -> None:
    async def main() -> None:
        started = time.monotonic()
        with pytest.raises(HookError) as caught:
            await run_command("sleep 30 & sleep 30", 0.3, "--query")
        assert caught.value.kind == "timeout"
        assert time.monotonic() - started < 3

    asyncio.run(main())


@pytest.mark.parametrize(("output", "kind", "words"), [
    ("", "json", "printed nothing"),
    ("<html>500</html>", "json", "did not print JSON"),
    ('{"dnd": "yes"}', "state", "dnd: expected true or false"),
    ('{"dnd": false, "colour": 1}', "state", "unknown field"),
])
def test_what_a_query_must_print(output: str, kind: str, words: str) -> None:
    with pytest.raises(HookError) as caught:
        parse_state_output(output, "--query", "q")
    assert caught.value.kind == kind
    assert words in str(caught.value)


def test_state_json_and_an_object_holding_it() -> None:
    state = FeatureState().applied(Change("cfna", True, "3000", 4))
    assert parse_state_output(json.dumps(state.to_json()), "--query", "q") == state
    wrapped = {"event": "state", "state": state.to_json()}
    assert parse_state_output(json.dumps(wrapped), "--query", "q") == state


def test_shell_device_reports_exit_status_and_output() -> None:
    async def main() -> None:
        device = ShellDevice.from_options("echo pressed {feature} {action} >&2; exit 4",
                                          """echo '{"dnd": true}'""", timeout=5)
        with pytest.raises(HookError) as caught:
            await device.control(Change("dnd", True), "1001")
        assert caught.value.exit_code == 4
        assert "pressed dnd" in caught.value.describe()
        assert (await device.query("1001")).dnd is True

    asyncio.run(main())

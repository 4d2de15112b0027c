"""Feature codes: the star codes a phone dials to sync a change (protocol section 3).

A profile gives one template per feature and action, with the forward-to number appended
through ``{number}`` (Yeastar ``*71{number}``, 3GPP ``*21*{number}#``) and, for the 3GPP
no-reply timer form, ``{seconds}`` (``**61*{number}**{seconds}#``). The phone renders a code
with :meth:`FeatureCodes.code_for`; the server maps a dialled Request-URI user part back with
:meth:`FeatureCodes.parse_code`::

    codes = load_all()["yeastar"].codes
    codes.code_for(Feature.CFA, Action.ACTIVATE, number="6000")      # '*716000'
    codes.parse_code("*716000")     # DialedCode(Feature.CFA, Action.ACTIVATE, '6000', None)

In a SIP URI the ``#`` of 3GPP codes must be escaped: use :func:`uri_user`.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote, unquote

from .values import Action, Feature, Setting

#: what ``{number}`` may stand for: digits, optionally with a leading ``+``
NUMBER_PATTERN = r"\+?[0-9]+"
_NUMBER_RE = re.compile(NUMBER_PATTERN)
_PLACEHOLDER_RE = re.compile(r"\{(number|seconds)\}")


class DialedCode(NamedTuple):
    """What a dialled code means: ``(feature, action, number, rings)``."""

    feature: Feature
    action: Action
    number: str | None
    rings: int | None


@dataclass(frozen=True)
class FeatureCode:
    """The templates of one feature and action.

    ``timer_template`` exists only for a no-answer forward's activation in the 3GPP form
    (``**61*{number}**{seconds}#``), used when a ring count is given.
    """

    feature: Feature
    action: Action
    template: Setting[str]
    timer_template: Setting[str] | None = None

    def templates(self) -> tuple[Setting[str], ...]:
        if self.timer_template is None:
            return (self.template,)
        return (self.template, self.timer_template)


@functools.lru_cache(maxsize=256)
def _template_regex(template: str) -> re.Pattern[str]:
    parts: list[str] = []
    pos = 0
    for match in _PLACEHOLDER_RE.finditer(template):
        parts.append(re.escape(template[pos : match.start()]))
        if match.group(1) == "number":
            parts.append(f"(?P<number>{NUMBER_PATTERN})")
        else:
            parts.append("(?P<seconds>[0-9]+)")
        pos = match.end()
    parts.append(re.escape(template[pos:]))
    return re.compile("".join(parts))


def placeholders(template: str) -> list[str]:
    """The placeholders of a template, in order (``['number', 'seconds']``)."""
    return _PLACEHOLDER_RE.findall(template)


def uri_user(code: str) -> str:
    """The code as a SIP URI user part: ``#`` becomes ``%23`` (RFC 3261 section 25.1)."""
    return quote(code, safe="*+0123456789")


@dataclass(frozen=True)
class FeatureCodes:
    """A profile's ``feature_codes`` block.

    ``executed_statuses`` lists the final responses to the code INVITE that mean "executed":
    ``"2xx"`` (a class) or a status such as ``"486"``; ``seconds_per_ring`` converts a ring
    count into ``{seconds}``; ``challenge`` is 401/407 when the PBX challenges the INVITE.
    """

    codes: tuple[FeatureCode, ...]
    executed_statuses: Setting[tuple[str, ...]]
    seconds_per_ring: Setting[int] | None
    challenge: Setting[int | None]

    def entry(self, feature: Feature, action: Action) -> FeatureCode | None:
        for code in self.codes:
            if code.feature is feature and code.action is action:
                return code
        return None

    def template(self, feature: Feature, action: Action) -> Setting[str]:
        """The template for ``feature``/``action``; KeyError when the profile has none."""
        entry = self.entry(feature, action)
        if entry is None:
            raise KeyError(f"no feature code for {feature} {action}")
        return entry.template

    def has_timer(self, feature: Feature) -> bool:
        """Whether activating ``feature`` can carry a ring count (``{seconds}``)."""
        entry = self.entry(feature, Action.ACTIVATE)
        return entry is not None and entry.timer_template is not None

    def code_for(
        self,
        feature: Feature,
        action: Action,
        number: str | None = None,
        rings: int | None = None,
    ) -> str:
        """The code to dial. Forward activations need ``number``; ``rings`` selects the
        timer form (only where the profile has one). Raises ValueError on a misuse."""
        entry = self.entry(feature, action)
        if entry is None:
            raise ValueError(f"profile has no feature code for {feature} {action}")
        template = entry.template.value
        seconds: int | None = None
        if rings is not None:
            if entry.timer_template is None:
                raise ValueError(f"the {feature} {action} code cannot carry a ring count")
            if rings < 1:
                raise ValueError(f"ring count must be positive, not {rings}")
            assert self.seconds_per_ring is not None  # checked when the profile loaded
            template = entry.timer_template.value
            seconds = rings * self.seconds_per_ring.value
        wants_number = "number" in placeholders(template)
        if wants_number and number is None:
            raise ValueError(f"the {feature} {action} code needs a number: {template!r}")
        if not wants_number and number is not None:
            raise ValueError(f"the {feature} {action} code takes no number: {template!r}")
        if number is not None and not _NUMBER_RE.fullmatch(number):
            raise ValueError(f"not a dialable number: {number!r} (digits, optional leading +)")
        text = template.replace("{number}", number or "")
        return text.replace("{seconds}", str(seconds) if seconds is not None else "")

    def parse_code(self, dialed: str) -> DialedCode | None:
        """What ``dialed`` (a Request-URI user part, ``%23`` allowed) means, or None.

        A ``{seconds}`` value becomes a ring count through ``seconds_per_ring``."""
        found = self.matches(dialed)
        return found[0][1] if found else None

    def matches(self, dialed: str) -> tuple[tuple[Setting[str], DialedCode], ...]:
        """Every template that matches ``dialed``, with its meaning. The loader refuses
        profiles where a code could match two templates, so this has at most one entry."""
        text = unquote(dialed)
        found: list[tuple[Setting[str], DialedCode]] = []
        for entry in self.codes:
            for template in entry.templates():
                match = _template_regex(template.value).fullmatch(text)
                if match is None:
                    continue
                groups = match.groupdict()
                rings: int | None = None
                if groups.get("seconds") is not None and self.seconds_per_ring is not None:
                    rings = max(1, round(int(groups["seconds"]) / self.seconds_per_ring.value))
                found.append(
                    (template, DialedCode(entry.feature, entry.action, groups.get("number"), rings))
                )
        return tuple(found)

    def executes(self, status: int) -> bool:
        """Whether a final response ``status`` to the code INVITE means "executed"."""
        for item in self.executed_statuses.value:
            if item.endswith("xx") and status // 100 == int(item[0]):
                return True
            if item == str(status):
                return True
        return False

    def executed_non_2xx(self) -> bool:
        """Whether some final non-2xx response also counts as executed."""
        return any(item != "2xx" for item in self.executed_statuses.value)

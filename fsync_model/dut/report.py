"""What ``fsync test`` tells its users: the stdout summary and, with ``--report DIR``, a
self-contained ``report.html``, ``report.json`` and ``junit.xml``, the whole session as
``session.pcap``, and per finding ``findings/<n>-<rule>/`` with the minimal run as
``minimal.pcap``, its ladder ``ladder.svg``, every message as ``messages.txt`` and
``replay.json`` (``fsync test ... --replay`` runs it again).

report.json is an external contract (CI scripts read it): keys are added, never renamed.
"""
from __future__ import annotations

import html
import json
import re
import shlex
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Final

from fsync_model import __version__
from fsync_model.diagrams.ladder import LadderError, Note
from fsync_model.diagrams.messages import ladder_from_messages, message_log
from fsync_model.diagrams.svg import render_svg
from fsync_model.dut.verdicts import VERDICTS, CaseResult, Finding, SessionResult, Violation
from fsync_model.transport.pcap import PcapWriter
from fsync_model.transport.tap import TapRecord

REPORT_FORMAT: Final = 1


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "finding"


def _peer_name(result: SessionResult) -> str:
    return "fsync's server" if result.role == "phone" else "fsync's phone"


def lifeline_names(result: SessionResult) -> dict[str, str]:
    names = {address.strip(): f"fsync ({'server' if result.role == 'phone' else 'phone'}, "
             f"{result.vendor})" for address in result.local.split(",")}
    if result.device_address:
        names[result.device_address] = f"device ({result.role} {result.user})"
    return names


def _count_line(result: SessionResult) -> str:
    kinds: dict[str, int] = {}
    for case in result.cases:
        kinds[case.case.kind] = kinds.get(case.case.kind, 0) + 1
    what = ", ".join(f"{n} {k}{'s' if n != 1 else ''}" for k, n in kinds.items())
    verdicts = ", ".join(f"{result.count(v)} {v}" for v in VERDICTS)
    return f"cases: {what or 'none'}: {verdicts} ({result.duration:.1f} s)"


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


# ------------------------------------------------------------------------------- stdout


def summary_text(result: SessionResult, *, report_dir: str | None = None) -> str:
    """The summary printed on stdout."""
    out = [f"fsync test {result.vendor} --dut {result.role}: user {result.user}, fsync at "
           f"{result.local}, seed {result.seed}"]
    if result.device_address:
        agent = f" ({result.device_agent})" if result.device_agent else ""
        out.append(f"device: {result.device_address}{agent}")
    if result.setup_error:
        out.append("")
        out.append(f"INCONCLUSIVE: {result.setup_error}")
    else:
        out.append(_count_line(result))
    for finding in result.findings:
        out.append("")
        out += _finding_lines(finding, result, report_dir)
    shown: dict[str, list[str]] = {}
    for case in result.cases:
        if case.verdict in ("flaky", "inconclusive") or (
                case.verdict == "skipped" and "inconclusive" in case.reason):
            shown.setdefault(f"{case.verdict.upper()}: {case.reason}", []).append(
                case.case.name)
    for text, names in shown.items():
        out.append("")
        more = f" (and {len(names) - 3} more)" if len(names) > 3 else ""
        out.append(f"{', '.join(names[:3])}{more}")
        out.append(f"  {text}")
    warnings = result.warnings
    if warnings:
        out.append("")
        out.append(f"remarks (warnings, not failures): {len(warnings)}")
        out += [f"  {w.severity} {w.rule}: {w.message}" for w in warnings[:10]]
        if len(warnings) > 10:
            out.append(f"  ... and {len(warnings) - 10} more (see report.json)")
    out += [f"note: {note}" for note in result.notes]
    out.append("")
    out.append(_verdict_line(result))
    if report_dir is not None:
        out.append(f"report: {Path(report_dir) / 'report.html'} (also report.json, junit.xml)")
    elif result.findings:
        out.append("add --report DIR for the pcap, ladder and replay file of each finding")
    return "\n".join(out) + "\n"


def _verdict_line(result: SessionResult) -> str:
    code = result.exit_code
    if result.outcome == "pass":
        return (f"result: PASS (exit {code}): the device conforms ({len(result.cases)} cases, "
                "no findings)")
    if result.outcome == "fail":
        rules = sorted({f.rule for f in result.findings})
        return (f"result: FAIL (exit {code}): the device violated {len(rules)} rule(s): "
                f"{', '.join(rules)}")
    return f"result: INCONCLUSIVE (exit {code}): fsync could not tell (see above)"


def _finding_lines(finding: Finding, result: SessionResult,
                   report_dir: str | None) -> list[str]:
    v = finding.violation
    out = [f"FAIL #{finding.id} {v.rule} ({finding.case.name}, confirmed on replay)",
           f"  {v.message}"]
    if v.evidence:
        out.append(f"  evidence: {v.evidence}")
    if v.expected:
        out.append(f"  expected: {v.expected}")
    steps = finding.minimal.steps
    out.append(f"  minimal sequence ({len(steps)} step{'s' if len(steps) != 1 else ''}; "
               f"{finding.shrink_note}):" if finding.shrink_note else
               f"  minimal sequence ({len(steps)} step(s)):")
    out += [f"    {i}. {s.describe(result.role)}" for i, s in enumerate(steps, 1)]
    if not steps:
        out.append("    (registration and subscription)")
    if v.message_text:
        out.append("  the message the device was given:" if v.source == "state" else
                   "  offending message:")
        out.append(_indent(v.message_text.strip(), "    | "))
    if report_dir is not None and finding.files:
        folder = Path(report_dir) / Path(next(iter(finding.files.values()))).parent
        names = ", ".join(Path(p).name for p in finding.files.values())
        out.append(f"  files: {folder}/ ({names})")
    return out


# ------------------------------------------------------------------------------- files


def _write_pcap(path: Path, records: list[TapRecord]) -> None:
    with PcapWriter(path) as pcap:
        for record in records:
            pcap.record(record.time, record.src, record.dst, bytes(record.data))


def finding_ladder(finding: Finding, result: SessionResult) -> str | None:
    run = finding.minimal_run
    if run is None or not run.records:
        return None
    title = f"{finding.rule}: {finding.case.name}"
    caption = "; ".join(f"{i}. {s.describe(result.role)}"
                        for i, s in enumerate(finding.minimal.steps, 1))
    ours = tuple(a.strip() for a in result.local.split(","))[:1]
    device = (result.device_address,) if result.device_address else ()
    notes: list[tuple[int, Note]] = [
        (mark, Note(ours + device, f"step {i}: {step.describe(result.role)}", "info"))
        for i, (mark, step) in enumerate(zip(run.step_marks, finding.minimal.steps,
                                             strict=False), 1)]
    v = finding.violation
    text = f"{v.rule}: {v.evidence}" if v.evidence else v.rule
    if v.expected and v.source == "state":
        text += f" (expected {v.expected})"
    notes.append((len(run.records), Note(device or ours, text, "finding")))
    try:
        ladder = ladder_from_messages(run.records, title=title, caption=caption or None,
                                      lifeline_names=lifeline_names(result), notes=notes)
    except LadderError:
        return None
    return render_svg(ladder)


def replay_document(finding: Finding, result: SessionResult) -> dict[str, Any]:
    return {
        "fsync": "replay", "format": REPORT_FORMAT, "version": __version__,
        "vendor": result.vendor, "dut": result.role, "user": result.user,
        "rule": finding.rule, "seed": result.seed,
        "case": finding.minimal.to_json(),
        "sequence": [s.describe(result.role) for s in finding.minimal.steps],
    }


def write_report(result: SessionResult, directory: Path) -> None:
    """Write every report file into ``directory`` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    if result.records:
        _write_pcap(directory / "session.pcap", result.records)
    for finding in result.findings:
        folder = Path("findings") / f"{finding.id}-{_slug(finding.rule)}"
        (directory / folder).mkdir(parents=True, exist_ok=True)
        run = finding.minimal_run
        if run is not None and run.records:
            _write_pcap(directory / folder / "minimal.pcap", run.records)
            finding.files["pcap"] = str(folder / "minimal.pcap")
            (directory / folder / "messages.txt").write_text(message_log(run.records),
                                                             encoding="utf-8")
            finding.files["messages"] = str(folder / "messages.txt")
        finding.ladder_svg = finding_ladder(finding, result)
        if finding.ladder_svg is not None:
            (directory / folder / "ladder.svg").write_text(finding.ladder_svg, encoding="utf-8")
            finding.files["ladder"] = str(folder / "ladder.svg")
        replay = replay_document(finding, result)
        replay["command"] = _replay_command(result, directory / folder / "replay.json")
        (directory / folder / "replay.json").write_text(json.dumps(replay, indent=2) + "\n",
                                                        encoding="utf-8")
        finding.files["replay"] = str(folder / "replay.json")
    (directory / "report.json").write_text(json.dumps(report_json(result), indent=2) + "\n",
                                           encoding="utf-8")
    (directory / "junit.xml").write_text(junit_xml(result), encoding="utf-8")
    (directory / "report.html").write_text(report_html(result), encoding="utf-8")


def _replay_command(result: SessionResult, path: Path) -> str:
    """The original command line with --replay FILE (and without --examples/--report)."""
    args = list(result.command)
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("--examples", "--report", "--replay"):
            skip = True
            continue
        if arg.startswith(("--examples=", "--report=", "--replay=")):
            continue
        out.append(arg)
    return shlex.join(["fsync", *out, "--replay", str(path)]) if out else ""


# ------------------------------------------------------------------------------- json


def report_json(result: SessionResult) -> dict[str, Any]:
    return {
        "fsync": __version__, "format": REPORT_FORMAT,
        "vendor": result.vendor, "dut": result.role, "user": result.user,
        "fsync_address": result.local, "device_address": result.device_address,
        "device_agent": result.device_agent, "device": result.device,
        "seed": result.seed,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(result.started)),
        "duration": round(result.duration, 3),
        "result": result.outcome, "exit_code": result.exit_code,
        "setup_error": result.setup_error,
        "counts": {v: result.count(v) for v in VERDICTS},
        "findings": [f.to_json(result.role) for f in result.findings],
        "cases": [c.to_json(result.role) for c in result.cases],
        "warnings": [w.to_json() for w in result.warnings],
        "notes": list(result.notes),
        "command": list(result.command),
    }


# ------------------------------------------------------------------------------- junit


def failure_text(case: CaseResult, result: SessionResult) -> str:
    """A failed case as plain text: its violations, its sequence, the minimal one and the
    offending message (junit.xml, the pytest plugin)."""
    lines = []
    for violation in case.violations:
        lines.append(f"{violation.rule}: {violation.message}")
        if violation.evidence:
            lines.append(f"  evidence: {violation.evidence}")
        if violation.expected:
            lines.append(f"  expected: {violation.expected}")
    lines.append("sequence:")
    lines += [f"  {i}. {s.describe(result.role)}" for i, s in enumerate(case.case.steps, 1)]
    if case.finding is not None:
        lines.append(f"minimal sequence (finding #{case.finding.id}):")
        lines += [f"  {i}. {s.describe(result.role)}"
                  for i, s in enumerate(case.finding.minimal.steps, 1)]
        text = case.finding.violation.message_text
        if text:
            lines.append("offending message:")
            lines.append(_indent(text.strip(), "  | "))
    return "\n".join(lines)


def junit_xml(result: SessionResult) -> str:
    suite_name = f"fsync test {result.vendor} --dut {result.role}"
    suites = ET.Element("testsuites", name="fsync")
    cases = list(result.cases)
    failures = sum(1 for c in cases if c.verdict == "failed")
    errors = sum(1 for c in cases if c.verdict in ("flaky", "inconclusive"))
    skipped = sum(1 for c in cases if c.verdict == "skipped")
    if result.setup_error:
        errors += 1
    suite = ET.SubElement(suites, "testsuite", {
        "name": suite_name, "tests": str(len(cases) + (1 if result.setup_error else 0)),
        "failures": str(failures), "errors": str(errors), "skipped": str(skipped),
        "time": f"{result.duration:.3f}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(result.started)),
    })
    props = ET.SubElement(suite, "properties")
    for name, value in (("vendor", result.vendor), ("dut", result.role),
                        ("user", result.user), ("seed", str(result.seed)),
                        ("device", result.device_address or "")):
        ET.SubElement(props, "property", name=name, value=value)
    if result.setup_error:
        testcase = ET.SubElement(suite, "testcase", classname=f"fsync.{result.vendor}.setup",
                                 name="connect", time="0")
        error = ET.SubElement(testcase, "error", type="inconclusive",
                              message=result.setup_error[:500])
        error.text = result.setup_error
    for case in cases:
        testcase = ET.SubElement(suite, "testcase", {
            "classname": f"fsync.{result.vendor}.{case.case.kind}s", "name": case.case.name,
            "time": f"{case.duration:.3f}"})
        if case.verdict == "failed":
            first = case.violations[0] if case.violations else None
            rule = first.rule if first else "FAILED"
            message = f"{rule}: {first.message}" if first else rule
            failure = ET.SubElement(testcase, "failure", type=rule, message=message[:500])
            failure.text = failure_text(case, result)
        elif case.verdict in ("flaky", "inconclusive"):
            error = ET.SubElement(testcase, "error", type=case.verdict,
                                  message=case.reason[:500])
            error.text = case.reason
        elif case.verdict == "skipped":
            ET.SubElement(testcase, "skipped", message=case.reason[:500])
        out = ET.SubElement(testcase, "system-out")
        out.text = "\n".join(s.describe(result.role) for s in case.case.steps)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites,
                                                                    encoding="unicode") + "\n"


# ------------------------------------------------------------------------------- html

_CSS: Final = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;color:#1f2933;
max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #cbd2d9}
.pass{color:#0b7a3e}.fail{color:#b3261e}.inconclusive{color:#a15c00}
table{border-collapse:collapse;width:100%;font-size:.9em}
td,th{border:1px solid #e4e7eb;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f5f7fa}
tr.failed td.v{color:#b3261e;font-weight:bold}tr.passed td.v{color:#0b7a3e}
tr.flaky td.v,tr.inconclusive td.v{color:#a15c00;font-weight:bold}
pre{background:#f5f7fa;padding:.6em;overflow-x:auto;font-size:.85em}
.finding{border:1px solid #f0b4ae;border-radius:6px;padding:0 1em 1em;margin:1em 0}
.ladder{overflow-x:auto;border:1px solid #e4e7eb;margin-top:.5em}
dt{font-weight:bold}dd{margin:0 0 .5em 1em}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _svg_inline(svg: str) -> str:
    return re.sub(r"^<\?xml[^>]*\?>\s*", "", svg)


def _violation_html(v: Violation) -> str:
    parts = [f"<dt>{_e(v.rule)} <small>({_e(v.source)}, {_e(v.severity)})</small></dt>",
             f"<dd>{_e(v.message)}"]
    if v.evidence:
        parts.append(f"<br><b>evidence:</b> <code>{_e(v.evidence)}</code>")
    if v.expected:
        parts.append(f"<br><b>expected:</b> {_e(v.expected)}")
    parts.append("</dd>")
    return "".join(parts)


def _finding_html(finding: Finding, result: SessionResult) -> str:
    v = finding.violation
    out = [f'<div class="finding" id="finding-{finding.id}">',
           f"<h3>#{finding.id} {_e(v.rule)} <small>in {_e(finding.case.name)}, "
           "confirmed on replay</small></h3>", "<dl>", _violation_html(v), "</dl>"]
    out.append(f"<p><b>Minimal sequence</b> ({_e(finding.shrink_note)}):</p><ol>")
    out += [f"<li>{_e(s.describe(result.role))}</li>" for s in finding.minimal.steps]
    if not finding.minimal.steps:
        out.append("<li>registration and subscription</li>")
    out.append("</ol>")
    links = [f'<a href="{_e(path)}">{_e(kind)}</a>' for kind, path in finding.files.items()]
    if links:
        out.append(f"<p>Files: {' · '.join(links)}</p>")
    if v.message_text:
        label = ("The message the device was given" if v.source == "state"
                 else "Offending message")
        out.append(f"<p><b>{label}</b></p>")
        out.append(f"<pre>{_e(v.message_text)}</pre>")
    if finding.ladder_svg:
        out.append(f'<div class="ladder">{_svg_inline(finding.ladder_svg)}</div>')
    out.append("</div>")
    return "\n".join(out)


def report_html(result: SessionResult) -> str:
    outcome = result.outcome
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>fsync test {_e(result.vendor)} --dut {_e(result.role)}: "
           f"{_e(outcome.upper())}</title>", f"<style>{_CSS}</style></head><body>",
           f"<h1>fsync test {_e(result.vendor)} --dut {_e(result.role)}: "
           f'<span class="{_e(outcome)}">{_e(outcome.upper())}</span></h1>',
           "<table>",
           f"<tr><th>device</th><td>{_e(result.device_address or '-')} "
           f"{_e(result.device_agent or '')}</td></tr>",
           f"<tr><th>user</th><td>{_e(result.user)}</td></tr>",
           f"<tr><th>fsync</th><td>{_e(result.local)} ({_e(_peer_name(result))})</td></tr>",
           f"<tr><th>seed</th><td>{_e(result.seed)}</td></tr>",
           f"<tr><th>hooks</th><td><code>{_e(result.device)}</code></td></tr>",
           f"<tr><th>summary</th><td>{_e(_count_line(result))}</td></tr>",
           f"<tr><th>exit code</th><td>{result.exit_code}</td></tr>", "</table>"]
    if result.records:
        out.append('<p>Whole session: <a href="session.pcap">session.pcap</a> · '
                   '<a href="report.json">report.json</a> · '
                   '<a href="junit.xml">junit.xml</a></p>')
    if result.setup_error:
        out.append(f'<h2>Inconclusive</h2><p class="inconclusive">{_e(result.setup_error)}</p>')
    if result.findings:
        out.append("<h2>Findings</h2>")
        out += [_finding_html(f, result) for f in result.findings]
    if result.cases:
        out.append("<h2>Cases</h2><table><tr><th>case</th><th>verdict</th><th>steps</th>"
                   "<th>details</th><th>s</th></tr>")
        for case in result.cases:
            steps = "<br>".join(_e(s.describe(result.role)) for s in case.case.steps)
            details = _e(case.reason)
            if case.finding is not None:
                details = (f'<a href="#finding-{case.finding.id}">finding '
                           f"#{case.finding.id}</a> {details}")
            elif case.violations:
                details += "<br>" + "<br>".join(_e(f"{v.rule}: {v.message}")
                                                for v in case.violations)
            out.append(f'<tr class="{_e(case.verdict)}"><td>{_e(case.case.name)}</td>'
                       f'<td class="v">{_e(case.verdict)}</td><td>{steps}</td>'
                       f"<td>{details}</td><td>{case.duration:.1f}</td></tr>")
        out.append("</table>")
    warnings = result.warnings
    if warnings:
        out.append("<h2>Remarks (not failures)</h2><dl>")
        out += [_violation_html(w) for w in warnings]
        out.append("</dl>")
    if result.notes:
        out.append("<h2>Notes</h2><ul>")
        out += [f"<li>{_e(n)}</li>" for n in result.notes]
        out.append("</ul>")
    out.append(f"<p><small>fsync {_e(__version__)}; command: "
               f"<code>{_e(shlex.join(['fsync', *result.command]))}</code></small></p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"

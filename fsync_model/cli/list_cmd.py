"""``fsync list``: the systems, their mechanisms, features, directions and unconfirmed settings."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from fsync_model.cli.common import add_spec_arg, load_profiles, resolve_vendor
from fsync_model.profile import Description, describe


def register(sub: Any, name: str) -> None:
    parser = sub.add_parser(
        name, help="list the systems and their flows",
        description="List every system profile in spec/: mechanisms, features with their "
        "directions, whether the phone's feature-sync setting gates them, and every setting "
        "that public sources do not confirm (correct those in the YAML, not the Python).")
    parser.add_argument("vendor", nargs="?", help="show one profile in full")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_spec_arg(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.vendor:
        descriptions = [describe(resolve_vendor(args, args.vendor))]
    else:
        descriptions = [describe(p) for p in load_profiles(args).values()]
    if args.json:
        out = []
        for d in descriptions:
            out.append({
                "system": d.system, "name": d.name, "code": d.purpose_code,
                "guide_section": d.guide_section, "mechanisms": list(d.mechanisms),
                "features": {f: flows for f, flows in d.features},
                "gated_by_line_setting": d.gated, "default_sync": d.default_sync,
                "policy": d.policy,
                "unconfirmed": [{"path": u.path, "value": u.value, "note": u.note,
                                 "line": u.line} for u in d.unconfirmed],
            })
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not args.vendor:
        _overview(descriptions)
        return 0
    for d in descriptions:
        rows = d.rows()
        width = max(len(f) for f, _ in rows)
        for field, value in rows:
            mark = "?" if field.startswith("unconfirmed ") else " "
            sys.stdout.write(f"{mark} {field:<{width}}  {value}\n")
    sys.stdout.write("\n? = unconfirmed: a documented default that no public capture confirms;"
                     " correct it in the YAML\n")
    return 0


def _flows(text: str) -> str:
    """'server-initiated (uacsta, informational...), phone-initiated (x)' -> 'srv(i) ph'."""
    marks = []
    for part in text.split("), "):
        word = "srv" if part.startswith("server") else "ph"
        marks.append(word + ("(i)" if "informational" in part else ""))
    return " ".join(marks)


def _overview(descriptions: list[Description]) -> None:
    header = ("system", "code", "mechanisms", "dnd", "cfa", "cfb", "cfna", "gated", "unconf.")
    rows: list[tuple[str, ...]] = [header]
    for d in descriptions:
        flows = dict(d.features)
        rows.append((d.system, d.purpose_code, ", ".join(d.mechanisms),
                     *(_flows(flows[f]) if f in flows else "-" for f in ("dnd", "cfa", "cfb",
                                                                          "cfna")),
                     "yes" if d.gated else "no", str(len(d.unconfirmed))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for row in rows:
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
                         .rstrip() + "\n")
    sys.stdout.write("\nsrv = server-initiated, ph = phone-initiated, (i) = informational "
                     "(the phone answers, its state stays);\n"
                     "gated = the phone's per-line feature-sync setting (off by default) "
                     "switches it; unconf. = settings no public capture confirms.\n"
                     "Details and every unconfirmed value: fsync list <system>\n")

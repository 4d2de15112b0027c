"""``fsync serve`` keeps out of its process what serving does not need: the other commands'
modules, `transitions` (machines and diagrams), and jsonschema (profiles are checked in a
child process), with the same profile and the same usage errors."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import argparse, sys
from fsync_model.cli.main import build_parser, UsageError
from fsync_model.cli import serve_cmd
from fsync_model.profile import load_all
args = build_parser("serve").parse_args(["serve", "--vendor", sys.argv[1],
                                         "--listen", "udp:127.0.0.1:0"])
try:
    profile = serve_cmd.load_vendor(args)
except UsageError as error:
    print("usage:", error)
else:
    print("same:", "jsonschema" in sys.modules, profile == load_all()["broadsoft"])
serve_cmd.create_server(load_all()["broadsoft"], rng=__import__("random").Random(1),
                        observer=lambda e: None, policy=None, policy_status=None,
                        password=None, quiet=True)
loaded = {name.split(".")[0] for name in sys.modules}
print("loaded:", sorted(loaded & {"transitions", "hypothesis", "rich", "graphviz"}))
print("commands:", sorted(n for n in sys.modules if n.startswith("fsync_model.cli.")
                          and n.endswith("_cmd")))
"""


def _probe(vendor: str) -> str:
    done = subprocess.run([sys.executable, "-c", _PROBE, vendor], cwd=ROOT, text=True,
                          capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_profile_is_loaded_apart_and_is_the_same() -> None:
    out = _probe("broadsoft")
    # jsonschema is only imported by the probe's own load_all, after load_vendor
    assert "same: False True" in out, out
    assert "loaded: []" in out and "commands: ['fsync_model.cli.serve_cmd']" in out, out


def test_a_profile_error_is_the_same_usage_error() -> None:
    out = _probe("broadsfot")
    assert "usage: unknown vendor 'broadsfot' (did you mean broadsoft?)" in out, out

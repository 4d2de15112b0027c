"""Test-only entry point: ``fsync phone`` running a defective reference phone.

    python -m tests.dut.phone_main --defect notify-500 phone --vendor broadsoft ...

Everything after ``--defect NAME`` is an ordinary ``fsync`` command line; the phone it
builds is the class of :data:`tests.dut.defective_phones.DEFECTS` instead of the reference.
"""
from __future__ import annotations

import sys
from typing import Any

from fsync_model.cli import main as cli_main
from fsync_model.cli import phone_cmd
from tests.dut.defective_phones import DEFECTS


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[0] != "--defect" or argv[1] not in DEFECTS:
        sys.stderr.write(f"usage: python -m tests.dut.phone_main --defect "
                         f"{{{','.join(DEFECTS)}}} phone ...\n")
        return 2
    cls = DEFECTS[argv[1]]

    def create_phone(profile: Any, **options: Any) -> Any:
        return cls(profile, keep_messages=False, **options)

    phone_cmd.create_phone = create_phone
    return cli_main.main(argv[2:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

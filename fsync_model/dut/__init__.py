"""Driving a real device: ``fsync test`` (``cli/test_cmd.py`` is its wiring).

* ``hooks.py``: the device adapter, ``--control`` / ``--query`` shell commands with timeouts
  (:class:`~fsync_model.dut.hooks.Device` is the interface, tests implement it in process);
* ``steps.py``: steps and cases (the profile's flows, seeded random examples), replay JSON;
* ``session.py``: fsync's reference agent over real sockets against the device, one step at
  a time, with the oracles (model, body rules, convergence, packet faults);
* ``wire.py``: oracles on the device's messages (strict checker, one final answer);
* ``runner.py``: confirm a failure by replaying it, shrink it, keep flaky apart;
* ``verdicts.py``: what was found, and the exit code;
* ``report.py``, ``progress.py``: stdout summary, report.html/json, junit.xml, pcaps, ladders.
"""

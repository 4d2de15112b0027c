"""Per profile: the reference agents pass the property run (fsync-ci settings), and the
property run plus the generated suite reach every transition of every machine of the
profile's tables, except the rows listed in coverage_report.EXCLUDED with their reason.
Run with -s to see the figures per machine."""
from __future__ import annotations

import pytest

from fsync_model.generate.suites import cases_for, run_case
from fsync_model.model import machines_for
from fsync_model.testing.coverage_report import (
    EXCLUDED,
    CoverageCollector,
    exclusion,
    format_report,
)
from fsync_model.testing.fixtures import Bench, profiles
from fsync_model.testing.machine import explore, versions

PROFILES = sorted(profiles())


@pytest.mark.parametrize("profile", PROFILES)
def test_property_run_and_suite_reach_every_transition(profile: str) -> None:
    spec = profiles()[profile]
    collector = CoverageCollector([spec])
    property_runs = CoverageCollector([spec])

    def fold(bench: Bench) -> None:
        for target in (collector, property_runs):
            target.add_agents(bench.phone, bench.server)

    result = explore(spec, on_teardown=fold)  # raises SyncFailure on any oracle violation
    for case in cases_for(spec):
        bench = run_case(case, spec)
        collector.add_agents(bench.phone, bench.server)
    print(f"\n{versions()}; {profile}: {result.examples} property examples\n"
          f"property runs alone:\n{format_report(property_runs, variants=False)}\n"
          f"property runs + generated suite:\n{format_report(collector)}")
    unexplained = {str(k): [f"{r.source} --{r.input.value}-->" for r in rows]
                   for k, rows in collector.unexplained().items()}
    assert not unexplained, f"transitions never reached and not excluded: {unexplained}"
    for figures in collector.figures():
        reached_but_excluded = [row for row in figures.transitions_reached
                                if exclusion(figures.key, row) is not None]
        assert not reached_but_excluded, (
            f"{figures.key}: excluded rows were reached, remove their exclusion: "
            f"{[(r.source, r.input.value) for r in reached_but_excluded]}")


def test_every_exclusion_still_matches_a_row() -> None:
    rows = [(key, row) for p in profiles().values() for key, table in machines_for(p).items()
            for row in table.transitions]
    for item in EXCLUDED:
        assert any(item.applies(key, row) for key, row in rows), (
            f"stale exclusion (no such row any more): {item}")

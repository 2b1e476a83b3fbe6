"""A small fixed-seed sample of the fault harness (``bench/faults.py``).

Each trial really kills a run (a named crash point or a SIGKILL after a random
delay), lets the person edit meanwhile, resumes to the end and checks every
invariant; the full table comes from ``python bench/faults.py --trials 200``.
"""

from __future__ import annotations

from bench.faults import INVARIANTS, run_trials, table


def test_fault_sample_keeps_every_invariant(tmp_path):
    results = run_trials(4, seed=11, workdir=tmp_path)
    report = table(results)
    assert [t.failures for t in results] == [{}] * 4, report
    assert sum(t.killed for t in results) >= 3, report  # the faults really happened
    assert all(name in report for name in INVARIANTS)

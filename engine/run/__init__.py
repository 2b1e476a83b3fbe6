"""The run lifecycle: executor, operations, journal, budget, run state, events bus."""

"""Git: working-tree snapshots, checkpoints, diffs and the diff model."""

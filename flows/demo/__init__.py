"""Bundled offline demo: a sample project with a real bug and a replay script."""

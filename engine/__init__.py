"""llmflows-tui flow engine: durable runs, git checkpoints, models and tools.

This package never imports textual; it is usable headless (CLI, CI, tests).
"""

__version__ = "0.1.0"

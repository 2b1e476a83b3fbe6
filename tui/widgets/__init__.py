"""Self-contained widgets of the main screen (diff viewer, file list, plan tree, panes).

Each widget takes engine data types (``engine.git.diffmodel``, ``engine.events``) and
posts Textual messages; screens wire them together.
"""

"""Built-in flow definitions (YAML) and their Jinja2 prompt templates (prompts/*.j2).

Package data only: engine.flow.spec finds these files via importlib.resources.
"""

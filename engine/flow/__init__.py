"""The flow language: spec, YAML positions, templates, routing."""

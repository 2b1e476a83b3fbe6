"""The Textual front end of llmflows-tui. Talks to the engine only via engine.api and events."""

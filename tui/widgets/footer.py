"""The key footer of every screen."""

from __future__ import annotations

from typing import Any

from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    """Textual's footer, rebuilt only when the keys it would show change.

    Textual's rebuilds all its key widgets on every bindings signal (each focus
    change, screen resume, ...): five identical rebuilds before the start screen
    could be used, about a sixth of the app's start-up time.
    """

    _shown: Any = None

    async def recompose(self) -> None:
        if not self.is_attached or self._pruning:
            return
        palette = self.app.COMMAND_PALETTE_BINDING
        shown = self._bindings_ready and (
            [
                (key, b, enabled, tip)
                for key, (_, b, enabled, tip) in self.screen.active_bindings.items()
                if b.show or key == palette
            ],
            self.show_command_palette,
        )
        if shown == self._shown:
            return
        self._shown = shown
        await super().recompose()

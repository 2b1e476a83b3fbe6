"""Command palette provider: every key binding of the current screen, by name.

Listing the *active bindings* (screen, focused widget, app) means each action
available by key is also available from ctrl+p, with the key shown as help.
"""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class ActionsProvider(Provider):
    """Offers the current screen's actions (same names as the footer)."""

    def _commands(self) -> list[tuple[str, str, object, str]]:
        screen = self.screen
        seen: set[str] = set()
        out = []
        for key, active in screen.active_bindings.items():
            b = active.binding
            if not b.description or b.action in seen or b.action == "command_palette":
                continue
            if active.enabled is False:
                continue
            seen.add(b.action)
            out.append((b.description, key, active.node, b.action))
        return out

    async def discover(self) -> Hits:
        for title, key, node, action in self._commands():
            yield DiscoveryHit(
                title, partial(self.app.run_action, action, node), help=f"key: {key}"
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, key, node, action in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(title),
                    partial(self.app.run_action, action, node),
                    help=f"key: {key}",
                )

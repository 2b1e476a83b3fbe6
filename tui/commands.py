"""Command palette provider: every key binding of the current screen, by name.

Listing the *active bindings* (screen, focused widget, app) means each action
available by key is also available from ctrl+p, with the key shown as help.
"""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode


def _own_actions(node: object) -> set[str]:
    """Actions bound by this app's own classes in ``node``'s MRO (not Textual's generic
    cursor / scroll / focus bindings, which would bury the app's actions in the palette)."""
    actions: set[str] = set()
    for cls in type(node).__mro__:
        if not cls.__module__.startswith("tui."):
            continue
        for b in cls.__dict__.get("BINDINGS", ()):
            action = getattr(b, "action", None) or (b[1] if isinstance(b, tuple) else None)
            if action:
                actions.add(action)
    return actions


class ActionsProvider(Provider):
    """Offers the current screen's actions (same names as the footer)."""

    def _commands(self) -> list[tuple[str, str, DOMNode, str]]:
        screen = self.screen
        seen: set[str] = set()
        out = []
        own: dict[int, set[str]] = {}
        for key, active in screen.active_bindings.items():
            b = active.binding
            if not b.description or b.action in seen or b.action == "command_palette":
                continue
            node_actions = own.setdefault(id(active.node), _own_actions(active.node))
            if b.action not in node_actions:
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

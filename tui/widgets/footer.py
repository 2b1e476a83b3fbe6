"""The key footer of every screen: one widget drawing the keys that act right now."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from itertools import groupby
from typing import TYPE_CHECKING, ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.binding import Binding
    from textual.screen import Screen

__all__ = ["Footer", "ShownKey"]


@dataclass(frozen=True, slots=True)
class ShownKey:
    """A key the footer shows, and the columns it takes (``x_end`` exclusive)."""

    key: str
    """The key pressed when it is clicked (``ctrl+p``)."""
    key_display: str
    """The key as shown (``^p``)."""
    description: str
    """Shown after the key ("" for a key of a group: the group's label follows)."""
    action: str
    enabled: bool
    """False: shown dimmed, a click rings the bell."""
    tooltip: str
    x_start: int = 0
    x_end: int = 0
    palette: bool = False
    """The command palette's key, right-aligned."""


@dataclass(frozen=True, slots=True)
class _Group:
    """Keys of one binding group with more than one action: keys, then the label."""

    keys: tuple[ShownKey, ...]
    label: str
    compact: bool


#: What the footer shows: its items left to right, and the palette key (if shown).
_Shown = tuple[tuple[ShownKey | _Group, ...], ShownKey | None]

#: One run of text: (text, role, index of its key in the layout or -1). Roles name
#: component classes ("key", "description", "separator"); "" is the footer's own style.
_Part = tuple[str, str, int]


class Footer(Widget, can_focus=False):
    """The active bindings of the screen as one line of keys and descriptions.

    Textual's footer is a widget per key (three style sets each) rebuilt on every
    bindings signal: about an eighth of the app's start-up. This one draws the same
    keys, in the same order and look, and repaints only when what it shows changes.
    A click on a key presses it (as Textual's footer does).
    """

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "footer--key",
        "footer--description",
        "footer--separator",
        "footer--hover",
    }
    DEFAULT_CSS = """
    Footer {
        dock: bottom;
        width: 1fr;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        .footer--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .footer--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        .footer--separator {
            color: $foreground 20%;
        }
        .footer--hover {
            background: $block-hover-background;
        }
    }
    """

    compact = reactive(False, toggle_class="-compact")
    """Display in compact style (no padding around keys)."""
    show_command_palette = reactive(True, repaint=False)
    """Show the key to invoke the command palette, on the right."""

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
        show_command_palette: bool = True,
        compact: bool = False,
    ) -> None:
        """Args as Textual's ``Footer`` (it has no children)."""
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self.set_reactive(Footer.show_command_palette, show_command_palette)
        self.set_reactive(Footer.compact, compact)
        self.set_class(compact, "-compact", update=False)
        self._shown: _Shown = ((), None)
        self._update_pending = False
        self._hover: ShownKey | None = None
        self._laid_out: tuple[object, tuple[list[_Part], list[_Part], list[ShownKey]]] | None = None
        #: How many times the footer read the screen's bindings (after a signal burst).
        self.binding_reads = 0
        #: How many of those reads changed what it shows (each time it repainted).
        self.repaints = 0

    # ------------------------------------------------------------------ what it shows
    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._schedule_update()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        # As Textual's footer: while the terminal is unfocused the bindings shrink to
        # the app's (nothing focused); keep showing the keys of the focused widget.
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._schedule_update()

    def _watch_show_command_palette(self) -> None:
        self._schedule_update()

    def _schedule_update(self) -> None:
        # Signals come in bursts (focus, screen resume, reactives): read the bindings once.
        if self.is_attached and not self._update_pending:
            self._update_pending = True
            self.call_after_refresh(self._update)

    def _update(self) -> None:
        self._update_pending = False
        if not self.is_attached:
            return
        shown = self._read_bindings()
        self.binding_reads += 1
        if shown != self._shown:
            self._shown = shown
            self._hover = None
            self.repaints += 1
            self.refresh()

    def _read_bindings(self) -> _Shown:
        """The items Textual's footer would show, in its order (one key per action,
        actions of a group together)."""
        app = self.app
        active = self.screen.active_bindings
        by_action: defaultdict[str, list[tuple[Binding, bool, str]]] = defaultdict(list)
        for _, binding, enabled, tooltip in active.values():
            if binding.show:
                by_action[binding.action].append((binding, enabled, tooltip))
        items: list[ShownKey | _Group] = []
        for group, same_group in groupby(by_action.values(), lambda b: b[0][0].group):
            firsts = [bindings[0] for bindings in same_group]
            if group is not None and len(firsts) > 1:
                keys = tuple(
                    ShownKey(
                        b.key, app.get_key_display(b), "", b.action, enabled, tip or b.description
                    )
                    for b, enabled, tip in firsts
                )
                items.append(_Group(keys, group.description, group.compact))
            else:
                items.extend(
                    ShownKey(b.key, app.get_key_display(b), b.description, b.action, enabled, tip)
                    for b, enabled, tip in firsts
                )
        palette = None
        if self.show_command_palette and app.ENABLE_COMMAND_PALETTE:
            found = active.get(app.COMMAND_PALETTE_BINDING)
            if found is not None:
                _, b, enabled, _tip = found
                palette = ShownKey(
                    b.key,
                    app.get_key_display(b),
                    b.description,
                    b.action,
                    enabled,
                    b.tooltip or b.description,
                    palette=True,
                )
        return tuple(items), palette

    # ------------------------------------------------------------------ layout
    def _layout(self) -> tuple[list[_Part], list[_Part], list[ShownKey]]:
        """Left parts, palette parts, and the keys with their columns (the palette's
        counted from the right edge of the current width)."""
        items, palette = self._shown
        compact = self.compact
        cache_key = (self._shown, compact, self.size.width)
        if self._laid_out is not None and self._laid_out[0] == cache_key:
            return self._laid_out[1]
        left: list[_Part] = []
        keys: list[ShownKey] = []
        x = 0

        def add(text: str, role: str, index: int = -1) -> None:
            nonlocal x
            left.append((text, role, index))
            x += cell_len(text)

        def add_key(key: ShownKey, parts: list[tuple[str, str]]) -> None:
            start = x
            for text, role in parts:
                add(text, role, len(keys))
            keys.append(replace(key, x_start=start, x_end=x))

        for item in items:
            if isinstance(item, _Group):
                if item.compact:
                    add(" ", "")
                for key in item.keys:
                    if not item.compact:
                        add(" ", "")
                    add_key(key, [(key.key_display, "key")])
                    if not item.compact:
                        add(" ", "")
                if item.compact:
                    add(" ", "")
                add(item.label, "description")
                if not compact:
                    add(" ", "")
            elif not item.description:
                add_key(item, [(item.key_display, "key")])
                if compact:
                    add(" ", "")
            elif compact:
                add_key(item, [(item.key_display, "key"), (f" {item.description}", "description")])
                add(" ", "")
            else:
                add_key(
                    item,
                    [(f" {item.key_display} ", "key"), (f"{item.description} ", "description")],
                )
        right: list[_Part] = []
        if palette is not None:
            index = len(keys)
            right = [
                ("▏", "separator", index),
                (palette.key_display, "key", index),
                (f" {palette.description}", "description", index),
                (" ", "", index),
            ]
            width = sum(cell_len(text) for text, _, _ in right)
            edge = self.size.width - width
            keys.append(replace(palette, x_start=edge, x_end=edge + width))
        self._laid_out = (cache_key, (left, right, keys))
        return left, right, keys

    @property
    def shown_keys(self) -> list[ShownKey]:
        """The keys on screen, left to right, the palette's last: a key cut off at the
        palette's key (or the right edge) is listed with the columns it would take."""
        _, _, keys = self._layout()
        edge = keys[-1].x_start if keys and keys[-1].palette else self.size.width
        return [k for k in keys if k.palette or k.x_start < edge]

    def key_at(self, x: int) -> ShownKey | None:
        """The key shown at column ``x`` of the footer, if any."""
        return next((k for k in self.shown_keys if k.x_start <= x < k.x_end), None)

    # ------------------------------------------------------------------ drawing
    def render_line(self, y: int) -> Strip:
        """The footer's one line: the keys from the left, the palette key on the right."""
        width = self.size.width
        base = self.rich_style
        if y or not width:
            return Strip.blank(width, base)
        styles = {
            "": base,
            **{
                role: self.get_component_rich_style(f"footer--{role}")
                for role in ("key", "description", "separator")
            },
        }
        hover = Style(bgcolor=self.get_component_rich_style("footer--hover").bgcolor)
        left, right, keys = self._layout()
        dim = Style(dim=True)

        def segments(parts: list[_Part]) -> list[Segment]:
            out = []
            for text, role, index in parts:
                style = styles[role]
                if index >= 0:
                    if not keys[index].enabled:
                        style += dim
                    if keys[index] == self._hover:
                        style += hover
                out.append(Segment(text, style))
            return out

        palette = Strip(segments(right))
        edge = max(0, width - palette.cell_length)
        strip = Strip(segments(left)).crop(0, edge).extend_cell_length(edge, base)
        return Strip.join([strip, palette]).crop(0, width).simplify()

    # ------------------------------------------------------------------ mouse
    def on_mouse_down(self, event: events.MouseDown) -> None:
        """Press the key under the pointer (a disabled one rings the bell)."""
        offset = event.get_content_offset(self)
        key = self.key_at(offset.x) if offset is not None else None
        if key is None:
            return
        if key.enabled:
            self.app.simulate_key(key.key)
        else:
            self.app.bell()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        offset = event.get_content_offset(self)
        key = self.key_at(offset.x) if offset is not None else None
        self._set_hover(key)

    def on_leave(self) -> None:
        self._set_hover(None)

    def _set_hover(self, key: ShownKey | None) -> None:
        if key != self._hover:
            self._hover = key
            self.tooltip = key.tooltip if key is not None and key.tooltip else None
            self.styles.pointer = "default" if key is None else "pointer"
            self.refresh()

"""A one-line picker: the chosen option, and the whole list on demand.

A light stand-in for Textual's ``Select`` on the start screen. A ``Select`` mounts four
widgets and a hidden option list; two of them were about a fifth of the time from
``App()`` to the start screen's first frame. ``Choice`` is one widget; its list is a
small dialog made only when opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import OptionList
from textual.widgets.option_list import Option

#: The tallest an open list gets (rows, border included); longer lists scroll.
_MAX_LIST_HEIGHT = 12


@dataclass(frozen=True)
class ChoiceOption:
    """One option: what the list shows, and the value it stands for."""

    label: str
    value: str


class Choice(Widget, can_focus=True):
    """Shows the chosen option; enter, space or a click lists them all, up/down step.

    ``value`` is the chosen option's value ("" while there are no options).
    """

    DEFAULT_CSS = """
    Choice {
        height: 3;
        border: tall $border-blurred;
        background: $surface;
        padding: 0 1;
        &:focus {
            border: tall $border;
            background-tint: $foreground 5%;
        }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,space", "open", "Choose"),
        Binding("up", "step(-1)", show=False),
        Binding("down", "step(1)", show=False),
        Binding("home", "jump(0)", show=False),
        Binding("end", "jump(-1)", show=False),
    ]

    value: reactive[str] = reactive("", init=False)

    def __init__(
        self,
        options: Sequence[tuple[str, str]],
        *,
        value: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._options = [ChoiceOption(label, val) for label, val in options]
        self.set_reactive(Choice.value, self._valid(value))

    @property
    def options(self) -> list[ChoiceOption]:
        """The options, in the order they are listed."""
        return list(self._options)

    def set_options(self, options: Sequence[tuple[str, str]]) -> None:
        """Replace the options; the value is kept if it is still one of them."""
        self._options = [ChoiceOption(label, val) for label, val in options]
        self.value = self._valid(self.value)
        self.refresh()

    def _valid(self, value: str | None) -> str:
        values = [o.value for o in self._options]
        if value in values:
            return str(value)
        return values[0] if values else ""

    def _index(self) -> int:
        return next((i for i, o in enumerate(self._options) if o.value == self.value), 0)

    def validate_value(self, value: str) -> str:
        return self._valid(value)

    def render(self) -> Text:
        label = self._options[self._index()].label if self._options else ""
        width = max(self.content_size.width, 2)
        text = Text(label, no_wrap=True, overflow="ellipsis")
        text.truncate(width - 2, overflow="ellipsis")
        text.pad_right(width - 2 - text.cell_len)
        text.append(" ▼", style="dim")
        return text

    def action_step(self, delta: int) -> None:
        """The previous (-1) or next (+1) option, without opening the list."""
        if self._options:
            index = min(max(self._index() + delta, 0), len(self._options) - 1)
            self.value = self._options[index].value

    def action_jump(self, index: int) -> None:
        """The option at ``index`` (0: the first, -1: the last)."""
        if self._options:
            self.value = self._options[index].value

    def action_open(self) -> None:
        """List every option under the picker (above it when there is no room below);
        the one picked becomes the value."""
        if self._options:
            self.app.push_screen(
                ChoiceList(self._options, self._index(), self.region), self._picked
            )

    def _picked(self, value: str | None) -> None:
        if value is not None:
            self.value = value
        self.focus()

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.focus()
        self.action_open()


class ChoiceList(ModalScreen[str | None]):
    """The options of a :class:`Choice`, under the picker's ``region`` (or above it)."""

    # Its own place and dimmed background are in app.tcss (the app's dialog rule for
    # every ModalScreen would win over default CSS).
    DEFAULT_CSS = """
    ChoiceList > OptionList {
        border: tall $border;
        max-height: 12;  /* _MAX_LIST_HEIGHT */
        height: auto;
        visibility: hidden;  /* until placed, once its height is known */
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", show=False)]

    def __init__(self, options: Sequence[ChoiceOption], highlighted: int, picker: Region) -> None:
        super().__init__()
        self._options = list(options)
        self._highlighted = highlighted
        self._picker = picker

    def compose(self) -> ComposeResult:
        listing = OptionList(*(Option(o.label, id=o.value) for o in self._options))
        listing.styles.offset = (self._picker.x, self._picker.bottom)
        listing.styles.width = self._picker.width
        yield listing

    def on_mount(self) -> None:
        listing = self.query_one(OptionList)
        listing.highlighted = self._highlighted
        self.call_after_refresh(self._place)

    def _place(self) -> None:
        """Under the picker if the list fits there, else above it if it fits there, else
        as low as the screen allows; never over the picker when either side has room."""
        listing = self.query_one(OptionList)
        picker, screen = self._picker, self.size.height
        # Its height as laid out at the picker's width (the options may wrap), capped.
        gutter = listing.styles.gutter
        lines = listing.get_content_height(self.size, self.size, picker.width - gutter.width)
        height = min(lines + gutter.height, _MAX_LIST_HEIGHT)
        if picker.bottom + height <= screen:
            y = picker.bottom
        elif picker.y >= height:
            y = picker.y - height
        else:
            y = max(0, screen - height)
        listing.styles.offset = (picker.x, y)
        listing.styles.visibility = "visible"
        listing.focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def on_click(self, event: events.Click) -> None:
        # A click outside the list closes it, as a menu does.
        if self.get_widget_at(event.screen_x, event.screen_y)[0] is self:
            self.dismiss(None)

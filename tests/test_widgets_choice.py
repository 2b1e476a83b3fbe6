"""Choice: the start screen's one-widget picker (value, keys, the list it opens)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Input, OptionList

from tui.widgets.choice import Choice, ChoiceList

OPTIONS = [("alpha — the first", "a"), ("beta — the second", "b"), ("gamma — the third", "c")]


class ChoiceApp(App):
    def __init__(self, value: str | None = None, fields_above: int = 1) -> None:
        super().__init__()
        self.initial = value
        self.fields_above = fields_above

    def compose(self) -> ComposeResult:
        for _ in range(self.fields_above):
            yield Input()
        yield Choice(OPTIONS, value=self.initial, id="pick")
        yield Input(id="after")


async def test_value_is_always_one_of_the_options():
    app = ChoiceApp(value="zzz")
    async with app.run_test() as pilot:
        pick = app.query_one(Choice)
        assert pick.value == "a"  # an unknown value falls back to the first option
        pick.value = "c"
        assert pick.value == "c"
        pick.value = "nope"
        assert pick.value == "a"
        pick.value = "b"
        pick.set_options([("only b", "b"), ("and d", "d")])
        assert pick.value == "b"  # kept: still offered
        pick.set_options([("d", "d")])
        assert pick.value == "d" and [o.value for o in pick.options] == ["d"]
        pick.set_options([])
        assert pick.value == ""
        await pilot.pause()


async def test_up_and_down_step_through_the_options_without_opening_them():
    app = ChoiceApp(value="a")
    async with app.run_test() as pilot:
        pick = app.query_one(Choice)
        pick.focus()
        await pilot.press("down", "down", "down")
        assert pick.value == "c"  # stops at the last
        await pilot.press("up")
        assert pick.value == "b"
        assert not isinstance(app.screen, ChoiceList)


async def test_enter_lists_the_options_under_the_picker_and_the_pick_becomes_the_value():
    app = ChoiceApp(value="a")
    async with app.run_test(size=(60, 20)) as pilot:
        pick = app.query_one(Choice)
        pick.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ChoiceList)
        listing = app.screen.query_one(OptionList)
        assert listing.highlighted == 0 and app.focused is listing
        assert listing.region.y == pick.region.bottom and listing.region.x == pick.region.x
        await pilot.press("down", "down", "enter")
        await pilot.pause()
        assert not isinstance(app.screen, ChoiceList)
        assert pick.value == "c" and app.focused is pick


async def test_escape_or_a_click_outside_closes_the_list_unchanged():
    app = ChoiceApp(value="b")
    async with app.run_test(size=(60, 20)) as pilot:
        pick = app.query_one(Choice)
        await pilot.click(Choice)  # a click opens it too
        await pilot.pause()
        assert isinstance(app.screen, ChoiceList)
        assert app.screen.query_one(OptionList).highlighted == 1
        await pilot.press("down", "escape")
        await pilot.pause()
        assert not isinstance(app.screen, ChoiceList) and pick.value == "b"
        pick.focus()
        await pilot.press("space")
        await pilot.pause()
        assert isinstance(app.screen, ChoiceList)
        await pilot.click(offset=(59, 19))  # far from the list
        await pilot.pause()
        assert not isinstance(app.screen, ChoiceList) and pick.value == "b"


async def test_the_picker_shows_the_chosen_label_cut_to_its_width():
    app = ChoiceApp(value="b")
    async with app.run_test(size=(20, 10)) as pilot:
        await pilot.pause()
        pick = app.query_one(Choice)
        line = pick.render().plain
        assert len(line) == pick.content_size.width  # the arrow at the right edge
        assert line.startswith("beta") and line.endswith(" ▼") and "second" not in line


async def test_without_room_below_the_list_opens_above_the_picker():
    app = ChoiceApp(value="a", fields_above=3)
    async with app.run_test(size=(60, 14)) as pilot:
        pick = app.query_one(Choice)
        pick.focus()
        await pilot.press("enter")
        await pilot.pause()
        listing = app.screen.query_one(OptionList)
        assert listing.region.bottom == pick.region.y  # right above, the picker uncovered
        assert listing.region.height == len(OPTIONS) + 2

"""Allowed commands: the remembered "always allow" rules (approvals.toml); remove one."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Static

from engine.readmodels import ApprovalRules
from engine.records import ApprovalRule, RuleScope
from tui.widgets.footer import Footer

TITLE = (
    "Commands that run without asking — project: in this repository; user: in every "
    "repository. A command gate's A key adds one."
)
EMPTY = "No remembered rules. At a command gate, A always allows the command's prefix."

if TYPE_CHECKING:
    from textual import getters

    from tui.app import LlmflowsApp


class RulesScreen(Screen):
    """The rules that apply here, in a table; d removes the selected one (after a yes)."""

    if TYPE_CHECKING:
        app = getters.app(LlmflowsApp)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d,delete", "remove", "Remove", tooltip="remove the selected rule (asks first)"),
        Binding("g", "refresh", "Refresh", tooltip="read approvals.toml again"),
        Binding("escape", "back", "Back", tooltip="back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.view: ApprovalRules | None = None

    def compose(self) -> ComposeResult:
        yield Static(TITLE, id="rules-title")
        yield Static("", id="rules-path")
        yield DataTable(id="rules", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Scope", key="scope")
        table.add_column("Command prefix", key="prefix")
        table.focus()
        self.action_refresh()

    @work(group="rules", exclusive=True)
    async def action_refresh(self) -> None:
        path = self.query_one("#rules-path", Static)
        try:
            self.view = view = await self.app.api.approval_rules()
        except Exception as e:  # a hand-edited file that does not parse: say where
            self.view = None
            path.update(f"could not read the rules: {e}")
            self.query_one(DataTable).clear()
            return
        path.update(f"stored in {view.path} (edit it by hand too: comments are kept)")
        table = self.query_one(DataTable)
        table.clear()
        for n, rule in enumerate(view.rules):
            table.add_row(str(rule.scope), rule.prefix, key=str(n))
        if not view.rules:
            path.update(f"{EMPTY}\nstored in {view.path}")

    def selected(self) -> ApprovalRule | None:
        table = self.query_one(DataTable)
        rules = self.view.rules if self.view is not None else []
        if not rules or table.cursor_row is None or table.cursor_row >= len(rules):
            return None
        return rules[table.cursor_row]

    def action_remove(self) -> None:
        from tui.screens.modals import ConfirmModal

        rule = self.selected()
        if rule is None:
            self.notify("No rule selected.")
            return
        where = "in this repository" if rule.scope is RuleScope.PROJECT else "in every repository"
        body = f"{rule.prefix!r} will ask again {where} (until you allow it again)."

        def answered(yes: bool | None) -> None:
            if yes:
                self._remove(rule.prefix, str(rule.scope))

        self.app.push_screen(ConfirmModal("Remove this rule?", body, yes="Remove"), answered)

    @work(group="rules-remove", exclusive=True)
    async def _remove(self, prefix: str, scope: str) -> None:
        try:
            removed = await self.app.api.remove_approval_rule(prefix, scope)
        except Exception as e:
            self.notify(f"could not remove the rule: {e}", severity="error")
            return
        self.notify(f"removed ({scope}): {prefix}" if removed else f"{prefix!r} was already gone")
        self.action_refresh()

    def action_back(self) -> None:
        self.app.pop_screen()

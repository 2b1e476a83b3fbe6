"""Start screen (flow, goal, model, autonomy, budget; resumable runs) and the
"not a git repository" screen."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from engine.records import Autonomy
from tui.widgets.choice import Choice
from tui.widgets.footer import Footer

#: (label, value) for the autonomy picker, from the engine's one list.
AUTONOMY = [(f"{a.value} — {a.summary}", a.value) for a in Autonomy]

if TYPE_CHECKING:
    from textual import getters

    from engine.readmodels import FlowChoice, RunSummary, StartInfo
    from tui.app import LlmflowsApp


class StartScreen(Screen):
    """Pick a flow, say what to do, start (or resume a paused / crashed run)."""

    if TYPE_CHECKING:
        app = getters.app(LlmflowsApp)

    AUTO_FOCUS = "#goal"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "start", "Start run", priority=True),
        # not ctrl+h: terminals send it for Backspace, so it would erase the goal
        Binding("ctrl+r", "history", "History", priority=True),
        # priority: the goal Input binds ctrl+d to delete-right and would swallow it
        Binding("ctrl+d", "demo", "Offline demo", priority=True),
    ]
    KEY_HELP: ClassVar[list[tuple[str, str]]] = [
        ("ctrl+s", "start the run (or press Start)"),
        ("enter", "in the goal: start the run; in the resume list: resume that run"),
        ("ctrl+r", "history of runs (also while typing)"),
        ("ctrl+d", "offline demo (scripted model, sample project)"),
        ("tab", "next field"),
        ("enter, space", "on Flow or Autonomy: list the choices (up/down: the next one)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.resumable: list[RunSummary] = []
        #: The test command as configured or detected (a different one typed is the person's).
        self.found_tests = ""
        #: What show_info() read (None until the repository has been read).
        self.info: StartInfo | None = None

    def compose(self) -> ComposeResult:
        # Not a tab stop of its own (nothing would look focused there); the focused
        # field scrolls into view.
        with VerticalScroll(id="start", can_focus=False):
            yield Static("llmflows — supervised autonomy for coding agents", id="start-title")
            yield Static("", id="start-repo")
            # the paused or crashed runs (#resume) are mounted here when there are any
            with Grid(id="start-form"):
                yield Label("Flow", classes="field-label")
                # no blank choice: once flows are listed every row is a flow ("" = none yet)
                yield Choice([("loading flows…", "")], id="flow")
                yield Label("Goal", classes="field-label")
                yield Input(placeholder="what should the agent do?", id="goal")
                yield Label("Model", classes="field-label")
                yield Input(id="model", placeholder="litellm model, or scripted:PATH")
                yield Label("Autonomy", classes="field-label")
                yield Choice(AUTONOMY, id="autonomy", value="review")
                yield Label("Budget $", classes="field-label")
                yield Input(placeholder="max cost in USD (blank: none)", id="budget")
                yield Label("Tests", classes="field-label")
                yield Input(placeholder="the command that runs the tests", id="test-command")
            yield Static("", id="test-source")
            with Horizontal(classes="row buttons"):
                yield Button("Start (ctrl+s)", variant="primary", id="start-run")
                yield Button("History", id="open-history")
                # "Offline demo" (#demo) is mounted here when a problem offers it
            yield Static("", id="start-error")
        yield Footer()

    def on_mount(self) -> None:
        app = self.app
        # Read before the app started (tui/launch.py): the first frame shows the form filled.
        info = app.engine.prefetched_start_info(app.cli_model) if app.engine else None
        if info is not None:
            self._fill(info)
        self.load()

    async def show_info(self) -> None:
        """Read the repository's flows, model and test command into the form: from here
        the screen can be used (the run store is not needed for it). Raises
        ``NotAGitRepoError``; other failures are shown on the screen."""
        from engine.errors import NotAGitRepoError

        app = self.app
        try:
            # Project flow files are validated after the screen is usable (load()).
            info = await app.api.start_info(app.cli_model, check_flows=False)
        except NotAGitRepoError:
            raise
        except Exception as e:
            self._error(f"could not read this repository: {e}")
            return
        self._fill(info)

    def _fill(self, info: StartInfo) -> None:
        """The form from ``info``: repository, flows, model, test command."""
        self.info = info
        # Only the folder's name: the full path is in the tooltip (keeps the screen short).
        repo_label = self.query_one("#start-repo", Static)
        repo_label.update(f"repository: {Path(info.root).name}")
        repo_label.tooltip = info.root
        self._show_flows(info.flows)
        model = self.query_one("#model", Input)
        if not model.value:
            model.value = info.model
        self._show_tests(info)
        self.app.mark_ready()

    @work(group="start-load", exclusive=True)
    async def load(self) -> None:
        """Once the store is open: the form (if not shown yet), the project's flow files
        checked, resumable runs, the trust prompt."""
        app = self.app
        if app.engine is None or app.repo_root is None:
            return  # the app calls show_info() and load() as it opens the repository
        if self.info is None:
            await self.show_info()
        info = self.info
        if info is None:
            return
        problems: list[str] = []
        if info.flows_error:
            problems.append(f"flows: {info.flows_error}")
        elif any(f.source == "project" for f in info.flows):
            try:
                check = await app.engine.check_project_flows()
            except Exception as e:
                problems.append(f"flows: {e}")
            else:
                if check.invalid:
                    self._show_flows(
                        [replace(f, valid=f.name not in check.invalid) for f in info.flows]
                    )
                if check.issues:
                    problems.append(
                        "Flow files with errors (fix them, then restart; "
                        "`llmflows-tui flows check FILE` checks one):\n"
                        + "\n".join(f"  {i}" for i in check.issues)
                    )
        if info.model_error:
            problems.append(info.model_error)
        try:
            resumable = await app.engine.resumable_runs()
        except Exception as e:
            resumable = []
            problems.append(f"could not list paused or crashed runs: {e}")
        if problems:
            self._error("\n\n".join(problems), offer_demo=bool(info.model_error))
        await self._show_resumable(resumable)
        await self._ask_trust()

    async def _show_resumable(self, runs: list[RunSummary]) -> None:
        """The paused or crashed runs above the form, where they are seen at any terminal
        size (mounted the first time there are any)."""
        if not self.query("#resume"):
            if not runs:
                self.resumable = runs
                return
            await self.query_one("#start").mount(
                Label(
                    "Paused or crashed runs — shift+tab to reach, enter resumes:", id="resume-label"
                ),
                OptionList(id="resume"),
                after="#start-repo",
            )
        opts = self.query_one("#resume", OptionList)
        opts.clear_options()
        opts.add_options(
            # one row per run at 80 columns: a long goal is cut with …
            Option(f"{r.status:<8} {r.flow:<10} {_cut(r.goal, 48)}", id=r.id)
            for r in runs
        )
        if runs:
            opts.highlighted = 0  # enter resumes at once, without an arrow key first
        self.query_one("#resume-label").display = opts.display = bool(runs)
        self.resumable = runs

    def _show_flows(self, flows: list[FlowChoice]) -> None:
        """Fill the flow picker (invalid project flows marked), keeping a valid choice."""
        app = self.app
        sel = self.query_one("#flow", Choice)
        current = sel.value
        sel.set_options(
            [
                (
                    (
                        f"{f.name} — {f.description}"
                        if f.valid and f.description
                        else (f.name if f.valid else f"{f.name} — ✗ invalid flow file (see below)")
                    )
                    + (" (project, shadows built-in)" if f.shadows_builtin else ""),
                    f.name,
                )
                for f in flows
            ]
            or [("no flows found", "")]
        )
        names = [f.name for f in flows if f.valid] or [f.name for f in flows]
        if current in names:
            sel.value = current
            return
        want = (
            app.default_flow
            if app.default_flow in names
            else ("feature" if "feature" in names else None)
        )
        if want or names:
            sel.value = want or names[0]

    def _show_tests(self, info: StartInfo) -> None:
        """The project's test command, where it came from, and what a change does."""
        self.found_tests = info.test_command
        tests = self.query_one("#test-command", Input)
        if not tests.value:
            tests.value = info.test_command
        if info.test_configured:
            change = "a change here is for this run; edit the file to keep it"
        elif not info.test_command:
            change = "type one to use it (saved to .llmflows/config.toml)"
        else:
            change = "saved to .llmflows/config.toml at the first run; type another to use it"
        self.query_one("#test-source", Static).update(f"{info.test_source} — {change}")

    async def _ask_trust(self) -> None:
        """Untrusted (or changed) .llmflows/ files: show what they set, approve or deny."""
        from tui.screens.trust import TrustModal

        if any(isinstance(s, TrustModal) for s in self.app.screen_stack):
            return  # load() runs again when the engine opens: ask once
        prompt = await self.app.api.trust_check()
        if not prompt.ok and not any(isinstance(s, TrustModal) for s in self.app.screen_stack):
            self.app.push_screen(TrustModal(prompt), self._on_trust_answer)

    def _on_trust_answer(self, approved: bool | None) -> None:
        self._trust_answered(approved)

    @work(group="trust")
    async def _trust_answered(self, approved: bool | None) -> None:
        if approved:
            await self.app.api.trust()
            self.notify("Trusted this repository's .llmflows/ files (asks again if they change).")
        else:
            self._error(
                "Not trusted: runs in this repository are refused until you trust its "
                ".llmflows/ files (reopen the app, or run `llmflows-tui trust`)."
            )

    def _error(self, text: str, offer_demo: bool = False) -> None:
        error = self.query_one("#start-error", Static)
        error.update(text)
        demo = self.query("#demo")
        if demo:
            demo.set_class(not offer_demo, "hidden")
        elif offer_demo:
            self.query_one(".buttons").mount(Button("Offline demo", id="demo"))
        if text:  # below the form: at 36 rows it would be off screen
            self.call_after_refresh(error.scroll_visible, animate=False)

    # ------------------------------------------------------------------ actions
    @on(Input.Submitted, "#goal")
    @on(Button.Pressed, "#start-run")
    def _start_pressed(self) -> None:
        self.action_start()

    @on(Button.Pressed, "#open-history")
    def _history_pressed(self) -> None:
        self.action_history()

    @on(Button.Pressed, "#demo")
    def _demo_pressed(self) -> None:
        self.action_demo()

    @on(OptionList.OptionSelected, "#resume")
    def _resume_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.app.resume_run(event.option.id)

    def action_history(self) -> None:
        self.app.action_history()

    def action_demo(self) -> None:
        self.app.start_demo()

    def action_start(self) -> None:
        flow = self.query_one("#flow", Choice).value
        goal = self.query_one("#goal", Input).value.strip()
        model = self.query_one("#model", Input).value.strip()
        autonomy = self.query_one("#autonomy", Choice).value
        budget_text = self.query_one("#budget", Input).value.strip()
        if not flow:
            self._error("Pick a flow.")
            return
        if not goal:
            self._error("Say what the agent should do (goal).")
            self.query_one("#goal").focus()
            return
        budget = None
        if budget_text:
            try:
                budget = float(budget_text.lstrip("$"))
            except ValueError:
                self._error(f"budget must be a number of dollars, not {budget_text!r}")
                return
        tests = self.query_one("#test-command", Input).value.strip()
        self._error("")
        # Only a command the person changed is theirs; else the engine resolves it.
        chosen = tests if tests and tests != self.found_tests else None
        self._start(flow, goal, model or None, autonomy, budget, chosen)

    @work(group="start", exclusive=True)
    async def _start(
        self,
        flow: str,
        goal: str,
        model: str | None,
        autonomy: str,
        budget: float | None,
        tests: str | None,
    ) -> None:
        app = self.app
        try:
            await app.start_run(
                flow, goal, model=model, autonomy=autonomy, budget=budget, test_command=tests
            )
        except Exception as e:
            from engine.errors import ModelConfigError

            self._error(f"{e}", offer_demo=isinstance(e, ModelConfigError))


class NoRepoScreen(Screen):
    """Shown outside a git repository: offer ``git init`` (or the demo)."""

    if TYPE_CHECKING:
        app = getters.app(LlmflowsApp)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("i", "git_init", "git init here"),
        Binding("d", "demo", "Offline demo"),
        Binding("q", "app.quit", "Quit"),
    ]
    KEY_HELP: ClassVar[list[tuple[str, str]]] = [
        ("i", "run `git init` in this folder and continue"),
        ("d", "offline demo in a temporary folder"),
    ]

    def __init__(self, cwd: str, message: str = "") -> None:
        super().__init__()
        self.cwd = cwd
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="norepo"):
            yield Static(f"{self.cwd} is not inside a git repository.", classes="dialog-title")
            yield Static(
                "llmflows keeps every step of a run as a git snapshot, so it needs a repository.\n"
                "Your files are not committed or changed by `git init`.",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("git init (i)", variant="primary", id="init")
                yield Button("Offline demo (d)", id="demo")
                yield Button("Quit (q)", id="quit")
        yield Footer()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        action = {"init": "git_init", "demo": "demo", "quit": "app.quit"}[event.button.id or ""]
        await self.run_action(action)

    def action_demo(self) -> None:
        self.app.start_demo()

    @work(group="init", exclusive=True, thread=True)
    def action_git_init(self) -> None:
        import subprocess

        proc = subprocess.run(["git", "init", "-q", self.cwd], capture_output=True, text=True)
        if proc.returncode != 0:
            self.app.call_from_thread(
                self.notify, f"git init failed: {proc.stderr.strip()}", severity="error"
            )
            return
        self.app.call_from_thread(self.app.reopen)


class LockedScreen(Screen):
    """Another llmflows-tui writes to this repository: say who, and what to do."""

    if TYPE_CHECKING:
        app = getters.app(LlmflowsApp)

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Try again"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__()
        self.message = message
        self.pid = pid

    def compose(self) -> ComposeResult:
        who = f"process {self.pid}" if self.pid else "another process"
        with Vertical(classes="dialog", id="locked"):
            yield Static(
                "This repository is in use by another llmflows-tui.", classes="dialog-title"
            )
            yield Static(
                f"{self.message}.\n\nClose the other one (or wait for its run to pause), then "
                f"press r. To see who holds it: `ps -p {self.pid or 'PID'}`. If {who} is gone, "
                "r takes the lock over.",
                id="locked-body",
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Try again (r)", variant="primary", id="retry")
                yield Button("Quit (q)", id="quit")
        yield Footer()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        await self.run_action({"retry": "retry", "quit": "quit"}[event.button.id or ""])

    def action_retry(self) -> None:
        self.app.reopen()

    def action_quit(self) -> None:
        # Not a success: scripts wrapping the app see that it could not open the repo.
        self.app.exit(return_code=2, message=self.message)


def _cut(text: str, width: int) -> str:
    """``text`` on one line, at most ``width`` characters (… marks a cut)."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"

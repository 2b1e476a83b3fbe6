"""LlmflowsApp: the Textual front end over ``engine.api.EngineAPI``.

The engine runs on its own thread behind the facade (``self.engine``). The app
subscribes to the engine's events and re-posts each as a
:class:`tui.messages.EngineEvent` on the UI thread; every facade method is
awaited inside a worker, so the UI never blocks on the model, git or tests.
``litellm`` is never imported here: the engine imports it lazily on its own thread.

Screens: start (or "not a git repository"), main (live run / read-only), history,
help; see ``tui/screens/``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType

from tui.commands import ActionsProvider
from tui.messages import EngineEvent, RunEnded
from tui.screens.start import LockedScreen, NoRepoScreen, StartScreen

if TYPE_CHECKING:
    from engine.api import EngineAPI

# The main/history/help screens (diff viewer, pygments, DataTable) are imported
# when first shown: the first frame only needs the start screen.

#: When set, the app writes ``time.time()`` to this file after its first frame (bench).
FIRST_PAINT_ENV = "LLMFLOWS_TUI_FIRST_PAINT"
# bench/scale.py: a file to stamp once the start screen can be acted on (flows listed).
READY_PAINT_ENV = "LLMFLOWS_TUI_READY_PAINT"
DEMO_FLOW = "bugfix"
DEMO_GOAL = "Fix the failing test in the sample project"


class LlmflowsApp(App):
    """The llmflows terminal app."""

    TITLE = "llmflows"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {ActionsProvider}
    # Short-lived toasts (errors set their own, longer timeouts); app.tcss docks them at
    # the top, away from the end of a hunk under review.
    NOTIFICATION_TIMEOUT: ClassVar[float] = 3.5
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", tooltip="this help"),
        # "?" is text while an input has focus (start screen): f1 always opens the help.
        Binding("f1", "help", "Help", show=False, tooltip="this help, also while typing"),
        Binding(
            "ctrl+p", "command_palette", "Commands", show=False, tooltip="every action by name"
        ),
        Binding(
            "ctrl+q", "quit", "Quit", tooltip="quit (a running run stops at a checkpoint first)"
        ),
        # ctrl+l: a plain letter would be typed into the start screen's goal
        Binding(
            "ctrl+l",
            "approval_rules",
            "Allowed commands",
            show=False,
            tooltip='commands always allowed ("A" at a command gate): list, remove',
        ),
    ]
    KEY_HELP: ClassVar[list[tuple[str, str]]] = [
        ("mouse", "click panes, files, hunks, buttons; scroll with the wheel"),
        ("", "click a hunk's ✓/✗ mark (or double-click the hunk) to accept / reject it"),
    ]

    def __init__(
        self,
        cwd: str | os.PathLike[str] = ".",
        *,
        model: str | None = None,
        autonomy: str = "review",
        flow: str | None = None,
        autostart: dict[str, Any] | None = None,
        model_factory: Callable[..., Any] | None = None,
        clock: Callable[[], float] = time.time,
        engine: EngineAPI | None = None,
    ) -> None:
        """``engine``: one already made on ``cwd`` (tui/launch.py makes it and reads the
        start screen's information before the app starts); else made on mount."""
        super().__init__()
        self.cwd = str(cwd)
        self.cli_model = model
        self.autonomy = autonomy
        self.default_flow = flow
        self.autostart = autostart
        self.model_factory = model_factory
        self.clock = clock
        self.engine: EngineAPI | None = None
        if engine is not None:
            self._adopt(engine)
        self.repo_root: Path | None = None
        self.live: Any = None
        self._first_paint_done = False
        #: Set once open_repo() has finished (opened the store, or shown why not).
        self._opened = asyncio.Event()
        self._notifier: Any = None  # bell / OSC 9 on gates and run ends (tui/notify.py)

    # ------------------------------------------------------------------ engine plumbing
    @property
    def api(self) -> EngineAPI:
        """The open engine (screens call it only once the repository is open)."""
        if self.engine is None:
            raise RuntimeError("the engine is not open yet")
        return self.engine

    def _adopt(self, engine: EngineAPI) -> None:
        self.engine = engine
        engine.subscribe(self._on_engine_thread_event)

    def _on_engine_thread_event(self, event: Any) -> None:
        # Called on the engine thread: hop to the UI thread.
        self.post_message(EngineEvent(event))

    def on_engine_event(self, message: EngineEvent) -> None:
        if self._notifier is None:
            from tui.notify import AppNotifier

            self._notifier = AppNotifier(self)
        self._notifier(message.event)
        live = self.live
        if live is not None and live.is_attached:
            live.on_engine_event(message)

    # ------------------------------------------------------------------ lifecycle
    def on_mount(self) -> None:
        self.push_screen(StartScreen())
        if os.environ.get(FIRST_PAINT_ENV):
            self.call_after_refresh(self._first_paint)
        # Start the engine after the first frame: opening the store competes for the GIL.
        self.call_after_refresh(self.open_repo)
        self.call_after_refresh(resume_gc)

    def mark_ready(self) -> None:
        """The start screen is actionable (repo read, flows listed): stamp it after its frame."""
        path = os.environ.get(READY_PAINT_ENV)
        if path:
            self.call_after_refresh(lambda: Path(path).write_text(f"{time.time()}\n"))

    def _first_paint(self) -> None:
        if self._first_paint_done:
            return
        self._first_paint_done = True
        Path(os.environ[FIRST_PAINT_ENV]).write_text(f"{time.time()}\n")

    @work(group="open", exclusive=True)
    async def open_repo(self) -> None:
        """Start the engine thread on ``self.cwd``; route to the right screen."""
        from engine.api import EngineAPI
        from engine.errors import NotAGitRepoError, StoreLockedError

        self._opened.clear()
        try:
            if self.engine is None:
                self._adopt(EngineAPI(self.cwd, model_factory=self.model_factory))
            start = self._start_screen()
            if start is not None and start.info is None:
                # The form needs files only: fill it before the store (and SQLite tooling)
                # is opened, which the engine thread does next.
                await start.show_info()
            self.repo_root = await self.api.open()
        except NotAGitRepoError as e:
            await self._replace_top(NoRepoScreen(self.cwd, str(e)))
            return
        except StoreLockedError as e:
            await self._replace_top(LockedScreen(str(e), e.pid))
            return
        except Exception as e:
            self.notify(f"could not open {self.cwd}: {e}", severity="error", timeout=30)
            return
        finally:
            self._opened.set()
        start = self._start_screen()
        if start is None:
            await self._replace_top(StartScreen())
        else:
            # It mounted before the store was open. Help, history or the palette opened
            # on it meanwhile (the form is usable before the store opens) stay on top.
            start.load()
        if self.autostart:
            spec, self.autostart = self.autostart, None
            try:
                await self.start_run(
                    spec["flow"],
                    spec["goal"],
                    model=self.cli_model,
                    autonomy=self.autonomy,
                    settings=spec.get("settings"),
                )
            except Exception as e:
                self.notify(f"could not start the run: {e}", severity="error", timeout=30)

    def _start_screen(self) -> StartScreen | None:
        """The start screen, if it is in the screen stack (under a dialog or not)."""
        return next((s for s in self.screen_stack if isinstance(s, StartScreen)), None)

    async def _replace_top(self, screen: Any) -> None:
        while len(self.screen_stack) > 1:
            await self.pop_screen()
        await self.push_screen(screen)

    def reopen(self, cwd: str | None = None, **changes: Any) -> None:
        """Reopen on (another) folder, e.g. after `git init` or for the demo."""
        self._reopen(cwd, changes)

    @work(group="open", exclusive=True)
    async def _reopen(self, cwd: str | None, changes: dict[str, Any]) -> None:
        old, self.engine, self.live, self.repo_root = self.engine, None, None, None
        if old is not None:
            await old.close()
        if cwd is not None:
            self.cwd = cwd
        for k, v in changes.items():
            setattr(self, k, v)
        self.open_repo()

    async def on_unmount(self) -> None:
        if self.engine is not None:
            await self.engine.close()

    # ------------------------------------------------------------------ runs
    async def start_run(
        self,
        flow: str,
        goal: str,
        *,
        model: str | None = None,
        autonomy: str = "review",
        budget: float | None = None,
        breakpoints: list[str] | None = None,
        single_step: bool = False,
        settings: dict[str, Any] | None = None,
        test_command: str | None = None,
    ) -> str:
        """Check the model, create the run, show it live and execute it."""
        await self._opened.wait()  # the form is usable a moment before the store is open
        if self.api.busy:
            raise RuntimeError("a run is already executing: stop it first (s)")
        run_id = await self.api.start_run(
            flow,
            goal,
            model=model,
            autonomy=autonomy,
            budget=budget,
            breakpoints=breakpoints,
            single_step=single_step,
            settings=settings,
            test_command=test_command,
        )
        await self.show_live(run_id, execute=True)
        return run_id

    async def show_live(self, run_id: str, execute: bool = False) -> Any:
        """Make ``run_id`` the live run on screen (replacing screens above start)."""
        from tui.screens.main import MainScreen

        while len(self.screen_stack) > 2:
            await self.pop_screen()
        screen = MainScreen(run_id)
        self.live = screen
        await self.push_screen(screen)
        if execute:
            screen.execute()
        return screen

    def execute_run(self, run_id: str) -> None:
        """Continue ``run_id`` on the engine thread; the live screen gets RunEnded."""
        self._execute(run_id)

    @work(group="execute")
    async def _execute(self, run_id: str) -> None:
        try:
            outcome = await self.api.execute(run_id)
            msg = RunEnded(run_id, outcome=outcome)
        except Exception as e:
            msg = RunEnded(run_id, error=e)
        live = self.live
        if live is not None and live.run_id == run_id:
            live.post_message(msg)

    def resume_run(self, run_id: str) -> None:
        """Open a paused / stopped / crashed run live and continue it."""
        self._resume(run_id)

    @work(group="resume", exclusive=True)
    async def _resume(self, run_id: str) -> None:
        if self.api.busy:
            self.notify("a run is executing: stop it first", severity="warning")
            return
        gate = await self.api.resume(run_id)
        # With an open gate the screen shows it; without one, continue running.
        await self.show_live(run_id, execute=gate is None)

    def open_read_only(self, run_id: str) -> None:
        """Show a past run read-only (from its stored events)."""
        from tui.screens.main import MainScreen

        self.push_screen(MainScreen(run_id, read_only=True))

    def fork_run(self, checkpoint_id: int) -> None:
        """Start a new run from any checkpoint of an old one."""
        self._fork(checkpoint_id)

    @work(group="fork", exclusive=True)
    async def _fork(self, checkpoint_id: int) -> None:
        if self.api.busy:
            self.notify("a run is executing: stop it first", severity="warning")
            return
        try:
            run_id = await self.api.fork(checkpoint_id)
        except Exception as e:
            self.notify(f"fork failed: {e}", severity="error")
            return
        self.notify(f"forked run {run_id} from checkpoint {checkpoint_id}")
        await self.show_live(run_id, execute=True)

    def follow_up_run(self, run_id: str, goal: str) -> None:
        """Ask a follow-up on a finished run: a new linked run, shown live.

        An app worker, not the old screen's: showing the new run closes that screen.
        """
        self._follow_up(run_id, goal)

    @work(group="fork", exclusive=True)
    async def _follow_up(self, run_id: str, goal: str) -> None:
        if self.api.busy:
            self.notify("a run is executing: stop it first", severity="warning")
            return
        try:
            new_id = await self.api.follow_up(run_id, goal)
        except Exception as e:
            self.notify(f"follow-up failed: {e}", severity="error")
            return
        self.notify(f"follow-up run {new_id} started (it follows {run_id})")
        await self.show_live(new_id, execute=True)

    def start_demo(self, directory: str | None = None) -> None:
        """Copy the sample project somewhere and run the bugfix flow with its script."""
        self._demo(directory)

    @work(group="open", exclusive=True)
    async def _demo(self, directory: str | None) -> None:
        from engine.api import prepare_demo

        try:
            demo = await asyncio.to_thread(prepare_demo, directory)
        except Exception as e:
            self.notify(f"could not prepare the demo: {e}", severity="error")
            return
        self.reopen(str(demo.repo), cli_model=demo.model, autostart=demo_autostart(demo))

    # ------------------------------------------------------------------ screens
    def action_history(self) -> None:
        from tui.screens.history import HistoryScreen

        if self.engine is None or self.repo_root is None:
            return
        if not isinstance(self.screen, HistoryScreen):
            self.push_screen(HistoryScreen())

    def action_approval_rules(self) -> None:
        from tui.screens.rules import RulesScreen

        if not isinstance(self.screen, RulesScreen):
            self.push_screen(RulesScreen())

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "approval_rules":  # the rules that apply depend on the open repository
            from textual.screen import ModalScreen

            # not over a dialog: it is waiting for its answer
            opened = self.engine is not None and self.repo_root is not None
            return opened and not isinstance(self.screen, ModalScreen)
        return True

    def action_help(self) -> None:
        from tui.screens.modals import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(help_sections(type(self.screen))))


def resume_gc() -> None:
    """Turn the garbage collector back on if tui/launch.py paused it for start-up. What
    start-up made (modules, classes, styles, the first screen) lives as long as the app:
    frozen, later collections do not walk it again."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def demo_autostart(demo: Any) -> dict[str, Any]:
    """What the app starts for an ``engine.demo.Demo``: flow, goal and flow settings."""
    return {
        "flow": getattr(demo, "flow", DEMO_FLOW),
        "goal": getattr(demo, "goal", DEMO_GOAL),
        "settings": getattr(demo, "settings", None),
    }


def help_sections(current: type | None = None) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every key of every screen, for the help screen; the ``current`` screen's first."""
    from tui.screens.history import HistoryScreen
    from tui.screens.main import MainScreen
    from tui.screens.modals import help_for
    from tui.screens.rules import RulesScreen

    screens: list[tuple[str, type]] = [
        ("Main screen (a run)", MainScreen),
        ("Start screen", StartScreen),
        ("History", HistoryScreen),
        ("Allowed commands", RulesScreen),
        ("Not a git repository", NoRepoScreen),
        ("Everywhere", LlmflowsApp),
    ]
    screens.sort(key=lambda s: s[1] is not current)  # stable: the rest keep their order
    return [(title, help_for(cls)) for title, cls in screens]

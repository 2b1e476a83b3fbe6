"""Bell / OSC 9 from the app when a gate opens or a run ends (mode: engine.notify)."""

from __future__ import annotations

from typing import Any

from engine.notify import NotifyMode, message_for, notify_mode, sequence


class AppNotifier:
    """Called with every engine event on the UI thread; writes through the app's driver."""

    def __init__(self, app: Any):
        self.app = app
        try:
            self.mode = notify_mode()
        except Exception as e:  # a bad config value must not stop the app: say it once
            app.notify(f"notifications off: {e}", severity="warning")
            self.mode = NotifyMode.OFF

    def __call__(self, event: Any) -> None:
        message = message_for(event) if self.mode is not NotifyMode.OFF else None
        if not message:
            return
        if self.mode is NotifyMode.BELL:
            self.app.bell()
            return
        driver = getattr(self.app, "_driver", None)  # App.bell() writes the same way
        if driver is not None:
            driver.write(sequence(self.mode, message))

"""Bell / OSC 9 from the app when a gate opens or a run ends (mode: engine.notify)."""

from __future__ import annotations

from typing import Any

from engine.api import notify_mode, terminal_notification


class AppNotifier:
    """Called with every engine event on the UI thread; writes through the app's driver
    (as ``App.bell()`` does), so the sequence never lands in the middle of a frame."""

    def __init__(self, app: Any):
        self.app = app
        try:
            self.mode = notify_mode()
        except Exception as e:  # a bad config value must not stop the app: say it once
            app.notify(f"notifications off: {e}", severity="warning")
            self.mode = "off"

    def __call__(self, event: Any) -> None:
        text = terminal_notification(event, self.mode)
        driver = getattr(self.app, "_driver", None)
        if text and driver is not None:
            driver.write(text)

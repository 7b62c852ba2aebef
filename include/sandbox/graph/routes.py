"""STUB: replaced by the Graph emulator."""
from __future__ import annotations

from typing import Any

from sandbox.http import App


class GraphApp(App):
    name = "graph"

    def __init__(self, hub: Any) -> None:
        super().__init__(hub.faults)
        self.hub = hub

    def reset(self) -> None: ...

    def snapshot(self) -> dict[str, Any]:
        return {}

    def restore(self, snap: dict[str, Any]) -> None: ...

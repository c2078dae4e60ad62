"""The moderators' HTTP API (FastAPI). Start it with ``contraband serve``.

    from serve.api import create_app, Settings
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from serve.api.app import create_app
    from serve.api.settings import Settings

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:
    """Import the app only when asked: ``contraband`` builds its parser from
    ``serve.api.auth`` and must not pay for importing FastAPI on every command."""
    if name == "create_app":
        from serve.api.app import create_app

        return create_app
    if name == "Settings":
        from serve.api.settings import Settings

        return Settings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The moderators' HTTP API (FastAPI). Start it with ``contraband serve``.

    from serve.api import create_app, Settings
"""

from serve.api.app import create_app
from serve.api.settings import Settings

__all__ = ["Settings", "create_app"]

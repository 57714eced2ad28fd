"""Azure Functions entry point (Python v2 model): the app lives in ``snitch.azure.functions``."""

from snitch.azure.functions import app

__all__ = ["app"]

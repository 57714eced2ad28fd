"""The Snitch: a tabloid newsletter about your Discord server's chat."""

__version__ = "0.1.0"

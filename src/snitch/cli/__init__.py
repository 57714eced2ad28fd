"""The ``snitch`` command line: one Typer app, its commands grouped by feature."""

# isort: skip_file
# Commands are listed in --help in the order their modules register them: the newsroom's,
# which a newcomer tries first, before the memory's.
from snitch.cli.shared import app
from snitch.cli import newsroom
from snitch.cli import memory
from snitch.cli import bot

__all__ = ["app", "bot", "main", "memory", "newsroom"]


def main() -> None:
    """Entry point of the ``snitch`` script."""
    app()

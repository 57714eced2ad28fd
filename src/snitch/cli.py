"""Command-line entry point (filled in by the CLI change)."""


def main() -> None:
    """Run the CLI."""

"""Allow ``python -m snitch``."""

from snitch.cli import main

main()

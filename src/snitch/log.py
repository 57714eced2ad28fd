"""Structured logging: human-readable on a terminal, JSON lines everywhere else.

Logs go to stderr so that machine-readable output on stdout (``--json``) stays clean.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

LogFormat = Literal["auto", "console", "json"]


def configure_logging(level: str = "INFO", fmt: LogFormat = "auto") -> None:
    """Configure structlog and the standard library once, at the entry point."""
    numeric_level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        if use_console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        # Resolved at each use, not at configure time: whoever swaps sys.stderr (a test
        # runner, a host capturing output) gets the logs, and a closed stream is never kept.
        logger_factory=_current_stderr_logger,
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(numeric_level, logging.WARNING), stream=sys.stderr)


def _current_stderr_logger(*_args: object) -> structlog.PrintLogger:
    return structlog.PrintLogger(file=sys.stderr)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A named logger; cheap to call at module level because nothing is configured here."""
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger

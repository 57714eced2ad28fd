"""The project's exceptions, in one place so callers can catch by meaning."""


class SnitchError(Exception):
    """Base class: a problem the user can act on, shown without a traceback."""


class ConfigError(SnitchError):
    """A setting is missing or invalid; the message names the variable."""


class ExportError(SnitchError):
    """A chat export cannot be read; the message names the file and the offending part."""


class EmptyWindowError(SnitchError):
    """The requested time window holds no messages, so there is nothing to write about."""


class UnknownPersonaError(SnitchError):
    """A persona name that the newsroom does not know."""


class StoreError(SnitchError):
    """The message store failed or refused an operation."""

"""One extension per feature; each module or package has a ``setup(bot)``."""

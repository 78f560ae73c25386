"""The base of every error shown to the user as one line (the CLI exits 2 on these)."""


class QmError(Exception):
    """``str()`` is a complete one-line message naming what failed and why."""

"""The one exception type the CLI turns into a clear one-line message."""


class WordmoreError(Exception):
    """A user-facing error: bad input, missing file, unusable checkpoint."""

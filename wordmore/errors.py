"""The one exception type the CLI turns into a clear one-line message."""


class WordmoreError(Exception):
    """A user-facing error: bad input, missing file, unusable checkpoint."""


def os_message(e: OSError) -> str:
    """An OSError as one line: its reason and its path, or that a file stands where a folder is needed."""
    import os
    if isinstance(e, FileExistsError) and e.filename and os.path.exists(e.filename) and not os.path.isdir(e.filename):
        return f"{e.filename} is a file, where a folder is needed"
    why = e.strerror or type(e).__name__
    return f"{why}: {e.filename}" if e.filename else why

"""One error type for bad input: its message names the file, row or key and the fix."""


class LraError(Exception):
    """Input the pipeline cannot use. The CLI prints the message alone, without a traceback."""

"""The one error type a user sees: a single clear line, exit code 2, no traceback."""


class DfdError(Exception):
    """Bad input or an unusable resource. Its message is one line that says what and where."""

    exit_code = 2

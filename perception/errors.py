"""Error types a user can cause. CLIs print ``str(error)`` on one line and exit with code 2."""


class UserInputError(Exception):
    """Bad input from the user: missing or unreadable file, wrong format, bad flag value.

    The message is one line that names the offending file or flag.
    """


class WeightsError(UserInputError):
    """A ``--weights`` file that cannot be used (unreadable, wrong format, hash mismatch)."""


class ConfigError(UserInputError):
    """A config dict/YAML with unknown keys or values of the wrong type."""


def first_line(error: BaseException, limit: int = 200) -> str:
    """First non-empty line of ``str(error)`` (or the exception type), cut to ``limit`` characters.

    Turns exceptions from third-party libraries into one-line user messages.
    """
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:limit]

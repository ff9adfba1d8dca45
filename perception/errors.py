"""Error types a user can cause. CLIs print ``str(error)`` on one line and exit with code 2."""

import re


class UserInputError(Exception):
    """Bad input from the user: missing or unreadable file, wrong format, bad flag value.

    The message is one line that names the offending file or flag.
    """


class WeightsError(UserInputError):
    """A ``--weights`` file that cannot be used (unreadable, wrong format, hash mismatch)."""


class ConfigError(UserInputError):
    """A config dict/YAML with unknown keys or values of the wrong type."""


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")  # colours, bold, cursor moves
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# Advice that third-party errors give and that is unsafe to pass on: torch.load's "Weights only load failed"
# error suggests loading the file with weights_only=False or allowlisting its classes, both of which run code
# from the file. A sentence with any of these is dropped from a message (what is left of torch's text: "Weights
# only load failed. WeightsUnpickler error: Unsupported global: GLOBAL x.Y was not an allowed global by default.").
_UNSAFE_ADVICE = re.compile(r"weights_only(?!\W?=\W?True)|can still be loaded|safe_globals|allowlist|trusted? source|"
                            r"do it only if|recommended steps", re.IGNORECASE)


def clean_message(text: str) -> str:
    """``text`` as one safe line for a terminal: ANSI escape codes removed, control characters and line breaks
    turned into spaces, and sentences with unsafe advice copied from a library (``weights_only=False``, ...)
    dropped."""
    text = _CONTROL.sub(" ", _ANSI_ESCAPE.sub("", text))
    sentences = re.split(r"(?<=[.!?])\s+", text)
    text = " ".join(s for s in sentences if not _UNSAFE_ADVICE.search(s))
    return re.sub(r"\s+\)", ")", text).strip()


def os_error_text(error: OSError) -> str:
    """One line for an OSError: its reason and, when it has one, the file ("No space left on device: /out/r.mcap")."""
    return f"{error.strerror or error}{f': {error.filename}' if error.filename else ''}"


def first_line(error: BaseException, limit: int = 200) -> str:
    """First non-empty line of ``str(error)`` (or the exception type), cleaned (``clean_message``) and cut to
    ``limit`` characters.

    Turns exceptions from third-party libraries into one-line user messages.
    """
    lines = [clean_message(line) for line in _ANSI_ESCAPE.sub("", str(error)).splitlines()]
    lines = [line for line in lines if line]
    return (lines[0] if lines else type(error).__name__)[:limit]

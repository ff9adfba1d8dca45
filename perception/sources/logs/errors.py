"""Errors a driving log can cause. Both are user errors: the CLI prints one line and exits with code 2."""

from __future__ import annotations

from perception.errors import UserInputError


class LogFormatError(UserInputError):
    """A log that cannot be used at all: not the format its name says, no readable camera frame,
    an unsupported message encoding, or no / an ambiguous camera topic. The message is one line."""


class LogDependencyError(UserInputError):
    """Reading this log needs an optional package that is not installed (``pip install '.[logs]'``)."""


def require(module: str, what: str):
    """Import ``module`` (an optional package of the ``logs`` extra) or raise LogDependencyError.

    ``what`` names the feature in the message: "reading MCAP files", "--mcap-out", ...
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise LogDependencyError(f"{what} needs the '{top}' package: pip install 'perception[logs]' "
                                 f"(or pip install {top})") from None

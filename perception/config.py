"""Typed dataclass configs that reject unknown keys (no silent typos)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

from perception.errors import ConfigError

T = TypeVar("T")


def config_from_dict(cls: type[T], data: dict[str, Any] | None, *, where: str = "") -> T:
    """Build the dataclass ``cls`` from ``data``; raise ConfigError on unknown keys or bad types.

    Nested dataclass fields are built recursively; lists are turned into tuples where the
    field is annotated as a tuple. ``where`` names the source (a file path) in messages.
    """
    data = dict(data or {})
    prefix = f"{where}: " if where else ""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{prefix}unknown key(s) for {cls.__name__}: {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(names))})")
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        origin = typing.get_origin(hint)
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = config_from_dict(hint, value, where=where)
        elif origin is tuple and isinstance(value, list):
            value = tuple(value)
        elif hint is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        _check_type(name, value, hint, prefix)
        kwargs[name] = value
    return cls(**kwargs)


def _check_type(name: str, value: Any, hint: Any, prefix: str) -> None:
    origin = typing.get_origin(hint)
    if origin is tuple:
        ok = isinstance(value, tuple)
    elif origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        ok = any(_matches(value, arg) for arg in typing.get_args(hint))
    else:
        ok = _matches(value, hint)
    if not ok:
        raise ConfigError(f"{prefix}key {name!r} expects {hint}, got {type(value).__name__} {value!r}")


def _matches(value: Any, hint: Any) -> bool:
    if hint is type(None):
        return value is None
    origin = typing.get_origin(hint) or hint
    if origin is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(origin, type):
        if origin is int and isinstance(value, bool):
            return False
        return isinstance(value, origin)
    return True


def load_config_file(cls: type[T], path: str | Any | None, overrides: dict | None = None) -> T:
    """Build ``cls`` from a YAML file (or its defaults when ``path`` is None) plus ``overrides``.

    Overrides whose value is None are skipped (unset CLI flags). Unknown keys, bad types, a missing or
    malformed file all raise ConfigError with a one-line message naming the file.
    """
    from pathlib import Path

    import yaml

    data: dict = {}
    where = "defaults"
    if path is not None:
        where = str(path)
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: top level must be a mapping of keys to values")
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return config_from_dict(cls, data, where=where)
    except (TypeError, ValueError) as e:
        if isinstance(e, ConfigError):
            raise
        raise ConfigError(f"{where}: {e}") from None


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain-dict form of a dataclass config (tuples become lists, ready for JSON/YAML)."""

    def convert(v: Any) -> Any:
        if isinstance(v, tuple):
            return [convert(x) for x in v]
        if isinstance(v, dict):
            return {k: convert(x) for k, x in v.items()}
        return v

    return {k: convert(v) for k, v in dataclasses.asdict(config).items()}

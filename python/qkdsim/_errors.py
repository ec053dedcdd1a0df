"""Exceptions of qkdsim: a bad scenario or route is a ``ValueError`` that carries, for
every violation, the dotted key path, the value found and the allowed range.

The library writes each violation as one line, ``key.path: must be <rule>, got <value>``
(``sweep.values.1 = 0.7: link.misalignment: must be in [0, 0.5], got 0.7`` when a value
set elsewhere breaks a key's rule); :meth:`Violation.parse` reads the parts back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Union

__all__ = ["Violation", "ScenarioError", "RouteError"]

Value = Union[float, int, str, bool, None]

# `where = value: rest`, as the library prefixes a violation caused by a value set at
# another place (a sweep value, a set() call that breaks a coupled rule).
_AT = re.compile(r"^(?P<at>[^\s:=]+) = (?P<value>[^:]+?): (?P<rest>.*)$", re.S)
# `key.path: rest`, the key path having no spaces.
_KEY = re.compile(r"^(?P<key>[A-Za-z_][^\s:]*): (?P<rest>.*)$", re.S)
_UNKNOWN = re.compile(r'unknown (?:or non-numeric )?scenario key "(?P<key>[^"]*)"')
_MISSING = re.compile(r"missing field `[^`]*` \(required, no default: (?P<allowed>.*)\)$", re.S)


def _value(text: str) -> Value:
    """The value as Python reads it: a quoted string, a bool, an int, a float (NaN and
    infinities included), or the text itself."""
    text = text.strip()
    if len(text) >= 2 and text[0] == '"':
        end = 1
        while end < len(text):
            if text[end] == "\\":
                end += 2
                continue
            if text[end] == '"':
                break
            end += 1
        return text[1:end]
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _value_token(rest: str) -> str:
    """The value after ``, got `` up to the explanation that may follow it."""
    rest = rest.strip()
    if rest.startswith('"'):
        end = 1
        while end < len(rest):
            if rest[end] == "\\":
                end += 2
                continue
            if rest[end] == '"':
                return rest[: end + 1]
            end += 1
        return rest
    return re.split(r"[ ;,]", rest, maxsplit=1)[0]


@dataclass(frozen=True)
class Violation:
    """One rule a scenario or route value breaks.

    Attributes:
        key: dotted key path of the value (``link.length_km``,
            ``spans[2].link.length_km``), or ``None`` when the line names none (a TOML
            syntax error).
        value: the offending value as Python reads it (``-5.0``, ``"fifty"``), or
            ``None`` when the value is missing or not shown.
        allowed: the rule, e.g. ``"in [0, 10000]"`` or ``"one of common,
            independent"``, or ``None``.
        at: where the value was given when that is not ``key`` itself (``values.1`` for
            the second value of a sweep), else ``None``.
        message: the whole line, as the command line prints it.
    """

    key: Optional[str]
    value: Value
    allowed: Optional[str]
    at: Optional[str]
    message: str

    @classmethod
    def parse(cls, line: str) -> "Violation":
        """Reads key path, value and rule out of one violation line of the library."""
        at = None
        at_value: Value = None
        rest = line
        m = _AT.match(line)
        if m and _KEY.match(m.group("rest")):
            at, at_value, rest = m.group("at"), _value(m.group("value")), m.group("rest")
        unknown = _UNKNOWN.search(rest)
        m = _KEY.match(rest)
        if not m:
            key = unknown.group("key") if unknown else None
            return cls(key, at_value, None, at, line)
        key, body = m.group("key"), m.group("rest")
        if unknown:
            return cls(unknown.group("key"), at_value, None, at, line)
        missing = _MISSING.search(body)
        if missing:
            return cls(key, None, missing.group("allowed"), at, line)
        allowed: Optional[str] = None
        value: Value = at_value
        got = body.find(", got ")
        if body.startswith("must ") and got >= 0:
            allowed = body[len("must ") : got]
            if allowed.startswith("be "):
                allowed = allowed[len("be ") :]
            value = _value(_value_token(body[got + len(", got ") :]))
        elif body.startswith("must "):
            allowed = body[len("must ") :]
            if allowed.startswith("be "):
                allowed = allowed[len("be ") :]
        return cls(key, value, allowed, at, line)


class ScenarioError(ValueError):
    """A scenario (file, text, dict or dotted-key change) breaks the scenario rules.

    ``str(e)`` is the command line's message; ``e.violations`` lists every broken rule
    as a :class:`Violation`, and ``e.key``, ``e.value`` and ``e.allowed`` are those of the
    first one.
    """

    def __init__(self, message: str, lines: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.violations: List[Violation] = [Violation.parse(line) for line in lines]

    @property
    def key(self) -> Optional[str]:
        """Dotted key path of the first violation."""
        return self.violations[0].key if self.violations else None

    @property
    def value(self) -> Value:
        """Offending value of the first violation."""
        return self.violations[0].value if self.violations else None

    @property
    def allowed(self) -> Optional[str]:
        """Allowed range or rule of the first violation."""
        return self.violations[0].allowed if self.violations else None

    def __reduce__(self) -> Any:
        return (type(self), (self.message, [v.message for v in self.violations]))


class RouteError(ScenarioError):
    """A route file breaks the route rules (nodes, spans, demands, the base scenario);
    key paths look like ``spans[2].link.length_km``."""


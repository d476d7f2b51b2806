"""Redaction at the boundary: everything the engine writes (entries, run records, logs, audit
details, events) passes through one `Redactor` first, so secret values live only in memory.

Two rules, applied together:

* By name: a value under a key that looks sensitive (authorization, token, password, secret,
  api key, cookie, credential, private key, signature, ...) becomes `[REDACTED]`; under such a key
  an object keeps its keys and loses its values. A template such as `Bearer {{ secrets.token }}`
  is kept: it holds no secret, and a retry needs it.
* By value: any known secret value (from overrides, `MOVA_SECRET_*` or `envelope.secrets`) is
  replaced by `[REDACTED]` wherever it appears in a string, whatever the key (an error message, a
  URL, an echoed response body), and so is every encoded form of it that could be decoded back:
  percent-encoded (as in URLs, either case of hex digits, `+` for a space as in forms) and
  JSON-escaped (`\\"`, `\\\\`, `\\u00e4`, once or twice: a JSON document echoed inside another),
  or any mix of them. A secret that is an object or a list counts by each of its leaves (strings
  and numbers). Values shorter than 4 characters, and booleans, are only redacted by name.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from mova_core.model.references import has_template, strip_templates

REDACTED = "[REDACTED]"
MIN_SECRET_LENGTH = 4

_SENSITIVE = re.compile(
    r"authorization|authentication|auth[-_]?token|token|passw|pwd|secret|api[-_ ]?key|apikey"
    r"|cookie|credential|private[-_]?key|signature|session[-_]?id|x[-_]auth|access[-_]?key|^auth$",
    re.IGNORECASE,
)
# Names that look sensitive but hold names, not values (a retry record lists override secret names).
_NOT_SENSITIVE = {"override_secrets", "secret_names"}
# Only the scheme may stand next to a template in a sensitive value we keep.
_SCHEME_ONLY = re.compile(r"^\s*(bearer|basic|token|digest|apikey)?\s*$", re.IGNORECASE)


def is_sensitive_name(name: Any) -> bool:
    """True for header/param/variable names that usually carry credentials."""
    return isinstance(name, str) and _sensitive_str(name)


@lru_cache(maxsize=4096)  # the same few hundred keys recur in every record
def _sensitive_str(name: str) -> bool:
    return name not in _NOT_SENSITIVE and bool(_SENSITIVE.search(name))


def _keeps_template_only(value: Any) -> bool:
    return isinstance(value, str) and has_template(value) and bool(_SCHEME_ONLY.match(strip_templates(value)))


def _leaves(values: Iterable[Any]) -> Iterator[str]:
    """Every scalar leaf of the secret values, as text; booleans and None hold no secret."""
    stack = list(values)
    while stack:  # not recursive: a secret may be nested deeper than the interpreter's stack
        value = stack.pop()
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, Mapping):
            stack.extend(value.values())
        elif isinstance(value, (list, tuple, set, frozenset)):
            stack.extend(value)
        else:
            yield str(value)


# Characters that no URL, form or JSON encoder changes: matched as themselves only.
_UNCHANGED = frozenset(string.ascii_letters + string.digits + "-._~")


def _hex(digits: str) -> str:
    """Hex digits that match in either case ('C3' -> '[cC]3')."""
    return "".join(f"[{d.lower()}{d}]" if d.isalpha() else d for d in digits)


# Text JSON-encoded once puts one backslash before an escaped character, twice three (a JSON
# document echoed inside another, as an echoing server does). Bounded, so the pattern never backtracks far.
_ESCAPES = r"\\{1,3}"


@lru_cache(maxsize=1024)  # per character, not per secret: no secret is kept by the cache
def _char_forms(char: str) -> str:
    """A pattern for one character of a secret: itself, percent-encoded, `+` for a space, or
    JSON-escaped (once or twice)."""
    if char in _UNCHANGED:
        return re.escape(char)
    forms = ["".join("%" + _hex(f"{b:02X}") for b in char.encode("utf-8", "surrogatepass"))]
    units = char.encode("utf-16-be", "surrogatepass")
    forms.append("".join(_ESCAPES + "u" + _hex(units[i:i + 2].hex().upper()) for i in range(0, len(units), 2)))
    short = json.dumps(char)[1:-1]
    if short.startswith("\\") and not short.startswith("\\u"):
        forms.append(_ESCAPES + re.escape(short[1:]))  # \" \n …
    if char == "/":
        forms.append(_ESCAPES + "/")  # JSON may escape a slash
    if char == " ":
        forms.append(r"\+")  # form encoding
    # The character itself last: '%25' must not match as '%' followed by text.
    return "(?:" + "|".join([*forms, re.escape(char)]) + ")"


def _backslashes(count: int) -> str:
    """A run of backslashes in a secret: percent-encoded, or doubled by each JSON encoding (up to twice)."""
    return f"(?:(?:%5[cC]){{{count}}}|\\\\{{{count},{4 * count}}})"


def _encoded_forms(secret: str) -> str:
    """A pattern matching the secret and every encoded form of it (see the module's docstring)."""
    return "".join(_backslashes(len(t)) if t[0] == "\\" else _char_forms(t)
                   for t in re.findall(r"\\+|[^\\]", secret, re.DOTALL))


class Redactor:
    """Replaces secrets in any JSON-like value; call it on whatever is about to leave memory."""

    def __init__(self, secret_values: Iterable[Any] = ()):
        values = {v for v in _leaves(secret_values) if len(v) >= MIN_SECRET_LENGTH and v != REDACTED}
        # Longest first, so a secret containing another is replaced whole.
        self._values = sorted(values, key=len, reverse=True)
        self._value_set = frozenset(values)
        self._pattern = re.compile("|".join(map(_encoded_forms, self._values))) if self._values else None

    def add(self, secret_values: Iterable[Any]) -> Redactor:
        """A redactor knowing these secret values as well."""
        return Redactor([*self._values, *secret_values])

    def text(self, value: str) -> str:
        """A string with every known secret value replaced."""
        if self._pattern is None or not value:
            return value
        return self._pattern.sub(REDACTED, value)

    def clip(self, value: str, limit: int) -> str:
        """The redacted text cut to `limit` characters: redacted first, so no cut secret is left."""
        return self.text(value)[:limit]

    def __call__(self, value: Any) -> Any:
        """A redacted copy of a JSON-like value (dicts, lists, strings, scalars)."""
        return self._plain(value)

    def _plain(self, value: Any) -> Any:
        """`_walk(value, sensitive=False)`, with the JSON types handled first (the hot path)."""
        kind = type(value)
        if kind is dict:
            out = {}
            for k, v in value.items():
                # is_sensitive_name, inlined
                out[k] = self._walk(v, True) if isinstance(k, str) and _sensitive_str(k) else self._plain(v)
            return out
        if kind is str:
            return value if self._pattern is None or not value else self._pattern.sub(REDACTED, value)
        if kind is list:
            return [self._plain(v) for v in value]
        if kind is int or kind is float:
            return REDACTED if self._value_set and str(value) in self._value_set else value
        if value is None or kind is bool:
            return value
        return self._walk(value, False)

    def _walk(self, value: Any, sensitive: bool) -> Any:
        # dict and list first: isinstance against the Mapping ABC is several times slower.
        kind = type(value)
        if kind is dict:
            return {k: self._walk(v, sensitive or is_sensitive_name(k)) for k, v in value.items()}
        if kind is list:
            return [self._walk(v, sensitive) for v in value]
        if kind is str and not sensitive:
            return self.text(value)
        if value is None or kind is bool:
            return value
        if isinstance(value, Mapping):
            return {k: self._walk(v, sensitive or is_sensitive_name(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._walk(v, sensitive) for v in value]
        if sensitive:
            if value is None or isinstance(value, bool) or value == "" or value == REDACTED:
                return value
            if _keeps_template_only(value):
                return value
            return REDACTED
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and self._values:
            return REDACTED if str(value) in self._values else value
        return value


def redact(value: Any, secret_values: Iterable[Any] = ()) -> Any:
    """One-shot redaction (see `Redactor`)."""
    return Redactor(secret_values)(value)


"""Every form in which a secret could be read back: as written, percent-encoded, form-encoded and
JSON-escaped, in either case of hex digits. The redaction tests grep files and outputs for all of them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, quote_plus, urlencode

import httpx

#: Secrets that each encoder writes differently: spaces, quotes, `<{|\`, non-ASCII, an emoji.
HOSTILE_SECRETS = (
    "pä ss{wörd}|x",
    'qu"ote\'s <{|\\}> back\\slash',
    "spa ce+plus%percent&amp=eq",
    "Ünïcødé-😀-ключ",
)


def encoded_forms(secret: str) -> set[str]:
    """The secret as it could appear in a URL, a form, a header echo or a JSON text (escaped once or twice)."""
    percent = {quote(secret), quote(secret, safe=""), quote_plus(secret), urlencode({"k": secret})[2:],
               str(httpx.URL("http://h/", params={"k": secret})).split("k=", 1)[1],
               str(httpx.URL(f"http://h/{secret}")).split("h/", 1)[1]}
    percent |= {p.lower() for p in percent}
    escaped = {json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    escaped |= {json.dumps(e)[1:-1] for e in escaped} | {json.dumps(e, ensure_ascii=False)[1:-1] for e in escaped}
    return {secret, *percent, *escaped}


def byte_forms(secrets: Iterable[str]) -> dict[bytes, str]:
    """Each encoded form of each secret as UTF-8 bytes, mapped to its secret."""
    return {form.encode("utf-8", "surrogatepass"): secret for secret in secrets for form in encoded_forms(secret)}


def secrets_found(data: bytes | str, secrets: Iterable[str]) -> list[str]:
    """The secrets (and which form) readable in `data`."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return [f"{secret!r} as {form!r}" for form, secret in byte_forms(secrets).items() if form in raw]


def secrets_in_tree(roots: Iterable[Path], secrets: Iterable[str]) -> dict[str, list[str]]:
    """Every file under the roots (hidden ones included) in which a secret is readable, with the forms found."""
    secrets = list(secrets)
    found: dict[str, list[str]] = {}
    for root in roots:
        for path in sorted(root.rglob("*")) if root.exists() else []:
            if path.is_file() and not path.is_symlink():
                hits = secrets_found(path.read_bytes(), secrets)
                if hits:
                    found[str(path)] = hits
    return found

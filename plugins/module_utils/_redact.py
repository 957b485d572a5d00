# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers: URLs as the collection shows them, without their secrets.

One place decides what of a URL is a secret, so that a failure message, the maintenance
window's record and announcements, and the release report all hide the same things:

- the userinfo (``user:password@``, or a token given as the user), shown as ``***@``;
- the value of every query-string (or fragment) parameter whose name says it is a secret
  (``token``, ``access_token``, ``api_key``, ``password``, ``sig``, ...), shown as ``***``;
- with ``keep_path=False``, everything after the host (chat webhooks carry their token in the
  path), shown as ``/…``.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
# Names of query-string parameters whose values are secrets.
SECRET_PARAM = re.compile(
    r"token|secret|passw|pwd|key|sig|auth|credential|session|jwt|bearer|private|code", re.IGNORECASE
)
_URL = re.compile(
    r"^(?P<scheme>[a-z][a-z0-9+.-]*://)?(?P<authority>[^/?#]*)(?P<path>[^?#]*)"
    r"(?:\?(?P<query>[^#]*))?(?:#(?P<fragment>.*))?$",
    re.IGNORECASE | re.DOTALL,
)
# A URL inside free text: a scheme, `://`, then anything up to a space or a quote.
URL_IN_TEXT = re.compile(r"[a-z][a-z0-9+.-]*://[^\s'\"<>`]+", re.IGNORECASE)


def _redact_params(params: str) -> str:
    """`a=1&token=abc` as `a=1&token=***`."""
    pairs = []
    for pair in params.split("&"):
        name, sep, value = pair.partition("=")
        pairs.append(f"{name}={MASK}" if sep and value and SECRET_PARAM.search(name) else pair)
    return "&".join(pairs)


def redact_url(url: Any, keep_path: bool = True) -> str:
    """The URL without its secrets (see the module's docstring); anything else as text."""
    text = str(url)
    match = _URL.match(text)
    if not match:  # pragma: no cover - the pattern matches any text
        return MASK
    scheme = match.group("scheme") or ""
    authority = match.group("authority")
    if "@" in authority:
        authority = f"{MASK}@{authority.rpartition('@')[2]}"
    path, query, fragment = match.group("path"), match.group("query"), match.group("fragment")
    if not keep_path:
        rest = path or query is not None or fragment is not None
        return scheme + authority + ("/…" if rest else "")
    redacted = scheme + authority + path
    if query is not None:
        redacted += "?" + _redact_params(query)
    if fragment is not None:
        redacted += "#" + (_redact_params(fragment) if "=" in fragment else fragment)
    return redacted


def redact_text(text: Any) -> Any:
    """Every URL in a text redacted; anything not a string is returned as it is."""
    if not isinstance(text, str):
        return text
    return URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)


def redact_data(value: Any) -> Any:
    """Every URL in every string of a structure (dicts, lists, tuples) redacted."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {key: redact_data(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(item) for item in value]
    return value

"""A small parser of the Prometheus text format, for checking rendered metrics."""

from __future__ import annotations

import re

_SAMPLE_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Sample = tuple[str, tuple[tuple[str, str], ...]]


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def parse(text: str) -> tuple[dict[str, str], dict[Sample, float]]:
    """Return ({metric: type}, {(name, sorted labels): value}); raises on malformed lines."""
    types: dict[str, str] = {}
    samples: dict[Sample, float] = {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            types[name] = kind
            continue
        if line.startswith("#"):
            continue
        match = _SAMPLE_RE.match(line)
        if not match:
            raise ValueError(f"bad sample line: {line!r}")
        name, _, labels, value = match.groups()
        pairs = tuple(sorted((k, _unescape(v)) for k, v in _LABEL_RE.findall(labels or "")))
        key = (name, pairs)
        if key in samples:
            raise ValueError(f"duplicate sample {key}")
        samples[key] = float(value)
    return types, samples

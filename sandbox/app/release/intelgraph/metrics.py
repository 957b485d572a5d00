"""Prometheus metrics, rendered by hand in the text exposition format (0.0.4)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Request and processing durations, seconds."""

DELIVERY_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Event delivery delays (produced or created until consumed), seconds."""

LabelValues = tuple[str, ...]


def escape_label_value(value: str) -> str:
    """Escape a label value: backslash, double quote and newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    """Format a sample value (``+Inf``, ``-Inf``, ``NaN``, integers without ``.0``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def format_labels(names: Sequence[str], values: Sequence[str]) -> str:
    """Render ``{a="1",b="2"}``, or nothing when there are no labels."""
    if not names:
        return ""
    pairs = ",".join(
        f'{name}="{escape_label_value(value)}"' for name, value in zip(names, values, strict=False)
    )
    return "{" + pairs + "}"


class _Metric:
    """Base of the metric kinds: name, help, label names and a lock."""

    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help_text = help_text
        self.label_names = tuple(labels)
        self._lock = threading.Lock()

    def _key(self, labels: dict[str, str]) -> LabelValues:
        if set(labels) != set(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}, got {sorted(labels)}")
        return tuple(str(labels[name]) for name in self.label_names)

    def header(self) -> list[str]:
        """The ``# HELP`` and ``# TYPE`` lines."""
        help_text = self.help_text.replace("\\", "\\\\").replace("\n", "\\n")
        return [f"# HELP {self.name} {help_text}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:
        """The sample lines."""
        raise NotImplementedError

    def render(self) -> list[str]:
        """Header and samples."""
        return self.header() + self.samples()


class Counter(_Metric):
    """A monotonically increasing value per label set."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[LabelValues, float] = {}
        if not self.label_names:
            self._values[()] = 0.0

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` (>= 0) to the series of ``labels``."""
        if amount < 0:
            raise ValueError("counters only go up")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def touch(self, **labels: str) -> None:
        """Create the series of ``labels`` at 0 so that it is exported before its first event."""
        key = self._key(labels)
        with self._lock:
            self._values.setdefault(key, 0.0)

    def value(self, **labels: str) -> float:
        """Current value of one series (0 if never touched)."""
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{format_labels(self.label_names, key)} {format_value(v)}" for key, v in items]


class Gauge(_Metric):
    """A value that goes up and down."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self._values: dict[LabelValues, float] = {}

    def set(self, value: float, **labels: str) -> None:
        """Set the series of ``labels`` to ``value``."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = float(value)

    def value(self, **labels: str) -> float:
        """Current value of one series (0 if never set)."""
        with self._lock:
            return self._values.get(self._key(labels), 0.0)

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        return [f"{self.name}{format_labels(self.label_names, key)} {format_value(v)}" for key, v in items]


class _HistogramSeries:
    """Bucket counts, sum and count of one label set."""

    __slots__ = ("buckets", "count", "total")

    def __init__(self, size: int) -> None:
        self.buckets = [0] * size
        self.count = 0
        self.total = 0.0


class Histogram(_Metric):
    """Cumulative-bucket histogram of observations."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        buckets: Iterable[float] = LATENCY_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, labels)
        bounds = sorted(float(b) for b in buckets if not math.isinf(b))
        if not bounds:
            raise ValueError("a histogram needs at least one finite bucket")
        self.bounds = tuple(bounds)
        self._series: dict[LabelValues, _HistogramSeries] = {}

    def touch(self, **labels: str) -> None:
        """Create the series of ``labels`` empty so that it is exported before its first event."""
        key = self._key(labels)
        with self._lock:
            self._series.setdefault(key, _HistogramSeries(len(self.bounds)))

    def observe(self, value: float, **labels: str) -> None:
        """Record one observation."""
        key = self._key(labels)
        with self._lock:
            series = self._series.setdefault(key, _HistogramSeries(len(self.bounds)))
            for index, bound in enumerate(self.bounds):
                if value <= bound:
                    series.buckets[index] += 1
                    break
            series.count += 1
            series.total += value

    def count(self, **labels: str) -> int:
        """Number of observations of one series."""
        with self._lock:
            series = self._series.get(self._key(labels))
            return series.count if series else 0

    def samples(self) -> list[str]:
        lines: list[str] = []
        with self._lock:
            snapshot = sorted((key, list(s.buckets), s.count, s.total) for key, s in self._series.items())
        names = (*self.label_names, "le")
        for key, buckets, count, total in snapshot:
            cumulative = 0
            for bound, hits in zip(self.bounds, buckets, strict=False):
                cumulative += hits
                lines.append(
                    f"{self.name}_bucket{format_labels(names, (*key, format_value(bound)))} {cumulative}"
                )
            lines.append(f"{self.name}_bucket{format_labels(names, (*key, '+Inf'))} {count}")
            lines.append(f"{self.name}_sum{format_labels(self.label_names, key)} {format_value(total)}")
            lines.append(f"{self.name}_count{format_labels(self.label_names, key)} {count}")
        return lines


class Registry:
    """An ordered set of metrics rendered together."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def register(self, metric: _Metric) -> _Metric:
        """Add ``metric``; names must be unique."""
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} registered twice")
        self._metrics[metric.name] = metric
        return metric

    def counter(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Counter:
        """Register and return a counter."""
        metric = Counter(name, help_text, labels)
        self.register(metric)
        return metric

    def gauge(self, name: str, help_text: str, labels: Sequence[str] = ()) -> Gauge:
        """Register and return a gauge."""
        metric = Gauge(name, help_text, labels)
        self.register(metric)
        return metric

    def histogram(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        buckets: Iterable[float] = LATENCY_BUCKETS,
    ) -> Histogram:
        """Register and return a histogram."""
        metric = Histogram(name, help_text, labels, buckets)
        self.register(metric)
        return metric

    def render(self) -> str:
        """The whole exposition, newline-terminated."""
        lines: list[str] = []
        for metric in self._metrics.values():
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"

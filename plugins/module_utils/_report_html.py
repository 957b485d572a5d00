# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Private helpers of the release_report_html module: the release report's data (the role's
report_data) as one self-contained HTML page. The outcome first, then the release note, the gates
(a table, and a chart of each gate's series over the observation window), the window's timeline
with the traffic under it, the backfill, migrations, replay, operational checks, releases per
host, links and sign-offs.

Nothing on the page is fetched when it is viewed: the style is inline, the charts are inline SVG
drawn by matplotlib (text kept as text, `svg.fonttype: none`), the release note is Markdown
rendered by markdown-it-py with raw HTML off. Every value from the data is escaped. The same data
gives the same page, byte for byte (no date in the SVG, fixed hash salts), so that a module writing
it changes nothing the second time."""

from __future__ import annotations

import html
import io
import math
import re
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

try:
    import matplotlib
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure

    HAS_MATPLOTLIB = True
    MATPLOTLIB_IMPORT_ERROR = None
except ImportError:
    HAS_MATPLOTLIB = False
    MATPLOTLIB_IMPORT_ERROR = traceback.format_exc()

try:
    from markdown_it import MarkdownIt

    HAS_MARKDOWN_IT = True
    MARKDOWN_IT_IMPORT_ERROR = None
except ImportError:
    HAS_MARKDOWN_IT = False
    MARKDOWN_IT_IMPORT_ERROR = traceback.format_exc()

# The unit each gate is shown in when the data names none: latencies are measured in seconds and
# shown in milliseconds, the error rate is a share and shown in percent.
DEFAULT_UNITS = {
    "read_p95": "ms",
    "write_p95": "ms",
    "subscription_p95": "ms",
    "ingest_p95": "ms",
    "error_rate": "percent",
}
# What a measured value is multiplied by to be shown in a unit, and how the unit is written.
UNIT_FACTOR = {"ms": 1000.0, "percent": 100.0}
UNIT_SUFFIX = {"ms": " ms", "percent": "%"}
UNIT_AXIS = {"ms": "ms", "percent": "%"}

OUTCOME_CLASS = {"succeeded": "succeeded", "rolled back": "rolled-back", "failed": "failed"}
PLACEHOLDER = re.compile(r"\[Awaiting Input:?\s*([^\]]*)\]?")
# A phase row of the timings that is the run's own bookkeeping, not a step of the upgrade.
INTERNAL_PHASES = ("what check mode does not verify",)

# Colours of the page and the charts.
COLOUR = {
    "ok": "#2f6f9f",
    "host": "#5a9e8f",
    "failed": "#c0392b",
    "running": "#9b9b9b",
    "gap": "#b0b0b0",
    "threshold": "#c0392b",
    "series": "#2f6f9f",
    "opened": "#2e7d32",
    "closed": "#333333",
    "deadline": "#c0392b",
    "observation": "#7b3fa0",
    "requests": "#2f6f9f",
    "failed_rps": "#c0392b",
}
LABEL_MAX = 48  # characters of a bar's label on the chart; the table under it has the whole label

RC = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@dataclass
class RenderedReport:
    """The page, and what is on it."""

    html: str
    charts: int
    bars: int


# --- values and their formats -----------------------------------------------------------------


def number(value: Any) -> float | None:
    """A finite float, or None (null, not a number, a bool, a string that is none)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def gate_unit(name: str, units: Mapping[str, Any] | None = None) -> str | None:
    """The unit a gate is shown in: the data's `units`, else DEFAULT_UNITS; None for a gate
    neither knows (shown as measured, without a unit)."""
    unit = (units or {}).get(name, DEFAULT_UNITS.get(name))
    return unit if unit in UNIT_FACTOR else None


def convert(value: Any, unit: str | None) -> float | None:
    """A measured value (seconds, a share) in its display unit (ms, percent); None stays None."""
    measured = number(value)
    if measured is None:
        return None
    return measured * UNIT_FACTOR.get(unit or "", 1.0)


def format_value(value: Any, unit: str | None) -> str:
    """A measured value as shown: `312.4 ms`, `0.120%`, or, without a unit, as measured (`%g`).
    No value is `no data`."""
    shown = convert(value, unit)
    if shown is None:
        return "no data"
    if unit == "ms":
        return f"{shown:.1f} ms"
    if unit == "percent":
        return f"{shown:.3f}%"
    return f"{shown:g}"


def format_share(value: Any) -> str:
    """A share (0.9897) in percent (`98.97%`); none is `no data`."""
    share = number(value)
    return "no data" if share is None else f"{share * 100:.2f}%"


def format_threshold(gate: Mapping[str, Any], unit: str | None) -> str:
    """The gate's limit with its direction: `≤ 300.0 ms`, `≥ 75.000%`."""
    if number(gate.get("threshold")) is None:
        return "none"
    sign = "≥" if gate.get("direction") == "above" else "≤"
    return f"{sign} {format_value(gate.get('threshold'), unit)}"


def timestamp(value: Any) -> float | None:
    """Unix seconds from a number or an ISO 8601 string (a time without a zone is UTC)."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    return number(value)


def format_time(value: Any) -> str:
    """A time of day in UTC, `HH:MM:SS`; an unknown time is `—`."""
    ts = timestamp(value)
    return "—" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def format_moment(value: Any, day: str | None = None) -> str:
    """A moment in UTC: `HH:MM:SS UTC` on the report's day, `YYYY-MM-DD HH:MM:SS UTC` on another.
    A value that is no time is shown as it is."""
    ts = timestamp(value)
    if ts is None:
        return "—" if value in (None, "") else str(value)
    moment = datetime.fromtimestamp(ts, UTC)
    if day is not None and moment.strftime("%Y-%m-%d") == day:
        return moment.strftime("%H:%M:%S UTC")
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def format_duration(seconds: Any) -> str:
    """A duration: `0.4s`, `42s`, `1m 05s`, `1h 02m 05s`. Unknown or negative is `—`."""
    value = number(seconds)
    if value is None or value < 0:
        return "—"
    if value < 0.05:
        return "<0.1s"
    if value < 9.95:
        return f"{value:.1f}s"
    total = round(value)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def text(value: Any) -> str:
    """Any value as plain text for a cell: never JSON. A list is its items joined with `, `,
    a mapping its `key: value` pairs joined with `; `; none is `—`."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {text(v)}" for k, v in value.items()) or "—"
    if isinstance(value, list | tuple):
        return ", ".join(text(v) for v in value) or "—"
    return str(value)


def esc(value: Any) -> str:
    """text(value), escaped for HTML (quotes too)."""
    return html.escape(text(value), quote=True)


def slug(value: Any) -> str:
    """A name made fit for an id: letters, digits, `-` and `_`."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", str(value)).strip("-") or "x"


def short(label: str, limit: int = LABEL_MAX) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def awaiting(note: str) -> list[str]:
    """The `[Awaiting Input ...]` placeholders left in a text: their labels, in order."""
    return [m.group(1).strip() or "unnamed" for m in PLACEHOLDER.finditer(note)]


# --- series and their gaps --------------------------------------------------------------------


def series_points(series: Any) -> list[tuple[float, float | None]]:
    """[[ts, value_or_null], ...] as (ts, value) sorted by time; malformed points left out."""
    points = []
    for point in series or []:
        if isinstance(point, list | tuple) and len(point) == 2 and number(point[0]) is not None:
            points.append((float(point[0]), number(point[1])))
    return sorted(points, key=lambda p: p[0])


def series_step(points: list[tuple[float, float | None]], step: Any = None) -> float:
    """The series' step in seconds: the data's, else the smallest spacing of its points; 0 when
    there is no telling (fewer than two points)."""
    given = number(step)
    if given is not None and given > 0:
        return given
    spacings = [b[0] - a[0] for a, b in pairwise(points) if b[0] > a[0]]
    return min(spacings) if spacings else 0.0


def data_gaps(
    points: list[tuple[float, float | None]],
    step: float = 0.0,
    start: float | None = None,
    end: float | None = None,
) -> list[tuple[float, float]]:
    """The time ranges of [start, end] (the series' own extent when not given) without a value:
    between two values more than 1.5 steps apart or with a null point between them, before the
    first value and after the last. A series without any value is one gap over all of it."""
    times = [t for t, _value in points]
    lo = start if start is not None else (times[0] if times else None)
    hi = end if end is not None else (times[-1] if times else None)
    valued = [t for t, v in points if v is not None]
    if not valued:
        return [(lo, hi)] if lo is not None and hi is not None and hi > lo else []
    nulls = [t for t, v in points if v is None]
    tolerance = 1.5 * step if step > 0 else math.inf

    def hole(a: float, b: float) -> bool:
        return b - a > tolerance or any(a < t < b for t in nulls)

    gaps = []
    first, last = valued[0], valued[-1]
    if lo is not None and first > lo and (first - lo > tolerance or any(t < first for t in nulls)):
        gaps.append((lo, first))
    gaps.extend((a, b) for a, b in pairwise(valued) if hole(a, b))
    if hi is not None and hi > last and (hi - last > tolerance or any(t > last for t in nulls)):
        gaps.append((last, hi))
    return gaps


# --- charts -----------------------------------------------------------------------------------


def _dates(times: Iterable[float]) -> list[float]:
    return [mdates.date2num(datetime.fromtimestamp(t, UTC)) for t in times]


def _time_axis(ax: Any) -> None:
    locator = mdates.AutoDateLocator(tz=UTC, minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=UTC))


def _shade_gaps(ax: Any, gaps: list[tuple[float, float]], gid: str, label: str = "no data") -> list[str]:
    """Each gap as a shaded, hatched band labelled `label` at its top; the bands' ids."""
    ids = []
    for index, (a, b) in enumerate(gaps):
        x0, x1 = _dates([a, b])
        band = ax.axvspan(x0, x1, facecolor=COLOUR["gap"], alpha=0.35, hatch="//", edgecolor="#808080", lw=0)
        band.set_gid(f"{gid}-{index}")
        ids.append(f"{gid}-{index}")
        ax.text(
            (x0 + x1) / 2,
            0.97,
            label,
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="top",
            fontsize=8,
            color="#444444",
            clip_on=True,
            in_layout=False,
        )
    return ids


def svg_of(fig: Any, scope: str, keep: Iterable[str] = ()) -> str:
    """The figure as an SVG element to put in an HTML page: no XML prolog, no date, and its ids
    made unique on the page (prefixed with scope) but for those in keep, set by the caller."""
    buffer = io.StringIO()
    with matplotlib.rc_context({**RC, "svg.hashsalt": f"intelgraph-report:{scope}"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    kept = set(keep)
    own = set(re.findall(r'\bid="([^"]+)"', svg)) - kept

    def scoped(match: re.Match[str]) -> str:
        name = match.group(2)
        return match.group(1) + (f"{scope}-{name}" if name in own else name)

    svg = re.sub(r'(\bid="|url\(#|href="#)([^")]+)', scoped, svg)
    return svg.replace("<svg ", f'<svg role="img" aria-labelledby="{scope}-caption" ', 1).strip()


def gate_chart(
    gate: Mapping[str, Any],
    series: Mapping[str, Any] | None,
    unit: str | None,
    window: tuple[float | None, float | None] = (None, None),
) -> tuple[str, bool]:
    """One gate's figure (HTML): its series over the observation window in its unit, the
    threshold as a horizontal line, every gap a band labelled `no data`. A gate without any value
    gets a figure saying `no data: <why>` and no chart. (html, whether it has data)."""
    name = str(gate.get("name", "unnamed"))
    scope = f"gate-{slug(name)}"
    series = series if isinstance(series, Mapping) else {}
    points = series_points(series.get("points"))
    error = series.get("error")
    shown = [(t, convert(v, unit)) for t, v in points]
    caption = (
        f"{esc(name)}: {esc(gate.get('status', 'no status'))}, threshold {esc(format_threshold(gate, unit))}"
    )
    if not any(v is not None for _time, v in shown):
        if error:
            why = str(error)
        elif not series:
            why = "no series in the report data"
        else:
            why = "the query returned no samples"
        return (
            f'<figure class="gate-chart" data-gate="{esc(name)}" data-nodata="true">'
            f'<div class="nodata" role="img" aria-labelledby="{scope}-caption">no data: {esc(why)}</div>'
            f'<figcaption id="{scope}-caption">{caption}</figcaption></figure>',
            False,
        )
    step = series_step(points, series.get("step"))
    gaps = data_gaps(points, step, *window)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(7.2, 2.6), layout="constrained")
        ax = fig.add_subplot()
        line_times, line_values = zip(*shown, strict=True)
        values = [math.nan if v is None else v for v in line_values]
        (line,) = ax.plot(_dates(line_times), values, color=COLOUR["series"], lw=1.4, marker=".", ms=3)
        line.set_gid(f"{scope}-series")
        threshold = convert(gate.get("threshold"), unit)
        if threshold is not None:
            rule = ax.axhline(threshold, color=COLOUR["threshold"], ls="--", lw=1.2)
            rule.set_gid(f"{scope}-threshold")
            ax.annotate(
                f"threshold {format_threshold(gate, unit)}",
                xy=(1, threshold),
                xycoords=("axes fraction", "data"),
                xytext=(-4, 3),
                textcoords="offset points",
                ha="right",
                va="bottom",
                fontsize=8,
                color=COLOUR["threshold"],
            )
        bands = _shade_gaps(ax, gaps, f"{scope}-gap")
        low = min(0.0, *(v for v in values if not math.isnan(v)))
        ax.set_ylim(bottom=low)
        ax.set_ylim(top=max(ax.get_ylim()[1], (threshold or 0) * 1.15))
        times = [t for t, _value in points] + [t for t in window if t is not None]
        if max(times) > min(times):
            ax.set_xlim(*_dates([min(times), max(times)]))
        _time_axis(ax)
        ax.set_ylabel(UNIT_AXIS.get(unit or "", "value"))
        ax.set_xlabel("time (UTC)")
        ax.grid(axis="y", color="#e4e4e4", lw=0.6)
        svg = svg_of(fig, scope, keep=[line.get_gid(), f"{scope}-threshold", *bands])
    if gaps:
        caption += f"; no data for {len(gaps)} part{'s' if len(gaps) > 1 else ''} of the window (shaded)"
        if error:
            caption += f": {esc(error)}"
    return (
        f'<figure class="gate-chart" data-gate="{esc(name)}">{svg}'
        f'<figcaption id="{scope}-caption">{caption}</figcaption></figure>',
        True,
    )


def timeline_chart(timeline: Mapping[str, Any], traffic: Mapping[str, Any] | None) -> tuple[str, int]:
    """The window's timeline (HTML figure): every phase and host of the data as a horizontal bar
    (ids bar-phase-<i>, bar-host-<i>), the window's opening, deadline and close and the
    observation's start and end as vertical lines; under it, on the same time axis, the requests
    and failed requests per second (gaps shaded). (html, bars drawn)."""
    window = timeline.get("window") if isinstance(timeline.get("window"), Mapping) else {}
    observation = timeline.get("observation") if isinstance(timeline.get("observation"), Mapping) else {}
    bars = [b for b in timeline.get("bars") or [] if isinstance(b, Mapping)]
    drawable = [b for b in bars if timestamp(b.get("start")) is not None]
    marks = [
        ("window opened", window.get("opened"), COLOUR["opened"], "-"),
        ("deadline", window.get("deadline"), COLOUR["deadline"], "--"),
        ("window closed", window.get("closed"), COLOUR["closed"], "-"),
        ("observation start", observation.get("start"), COLOUR["observation"], ":"),
        ("observation end", observation.get("end"), COLOUR["observation"], ":"),
    ]
    marks = [(label, timestamp(at), colour, style) for label, at, colour, style in marks]
    marks = [m for m in marks if m[1] is not None]
    traffic = traffic if isinstance(traffic, Mapping) else {}
    requests = series_points(traffic.get("requests"))
    failed = series_points(traffic.get("failed"))
    has_traffic = any(v is not None for _time, v in requests + failed)

    times = [m[1] for m in marks]
    for span in drawable:
        times.append(timestamp(span["start"]))
        if timestamp(span.get("end")) is not None:
            times.append(timestamp(span.get("end")))
    if has_traffic:
        times.extend(t for t, _value in requests + failed)
    if not times:
        return (
            '<figure class="timeline" data-nodata="true"><div class="nodata">no timeline: the report data has no '
            "times of the window, its phases or its hosts</div><figcaption>Timeline</figcaption></figure>",
            0,
        )
    lo, hi = min(times), max(times)
    span = max(hi - lo, 1.0)
    lo, hi = lo - span * 0.02, hi + span * 0.02

    keep = []
    with matplotlib.rc_context(RC):
        rows = max(len(drawable), 1)
        bar_height = 0.26 * rows + 1.0
        if has_traffic:
            fig = Figure(figsize=(10, bar_height + 2.2), layout="constrained")
            top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[bar_height, 2.2])
        else:
            fig = Figure(figsize=(10, bar_height), layout="constrained")
            top, bottom = fig.add_subplot(), None
        top.set_gid("timeline-bars")
        keep.append("timeline-bars")
        counts = {"phase": 0, "host": 0}
        labels = []
        for row, span in enumerate(drawable):
            kind = "host" if span.get("kind") == "host" else "phase"
            start = timestamp(span["start"])
            end = timestamp(span.get("end"))
            outcome = span.get("outcome", "ok")
            running = end is None
            colour = (
                COLOUR["failed"]
                if outcome == "failed"
                else COLOUR["running"]
                if running
                else COLOUR["ok" if kind == "phase" else "host"]
            )
            x0, x1 = _dates([start, end if end is not None else hi])
            (rect,) = top.barh(
                row, max(x1 - x0, 0), left=x0, height=0.64, color=colour, hatch="//" if running else None
            )
            gid = f"bar-{kind}-{counts[kind]}"
            counts[kind] += 1
            rect.set_gid(gid)
            keep.append(gid)
            labels.append(("" if kind == "phase" else "  ") + short(str(span.get("label", "unnamed"))))
        top.set_yticks(range(len(labels)), labels)
        top.set_ylim(rows - 0.5, -0.5)
        for axis in (top, bottom):
            for label, at, colour, style in marks if axis is not None else ():
                axis.axvline(
                    _dates([at])[0], color=colour, ls=style, lw=1.3, label=label if axis is top else None
                )
        if marks:
            top.legend(
                loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(marks), fontsize=8, frameon=False
            )
        top.set_xlim(*_dates([lo, hi]))
        top.grid(axis="x", color="#e4e4e4", lw=0.6)
        _time_axis(top)
        if bottom is not None:
            bottom.set_gid("timeline-traffic")
            keep.append("timeline-traffic")
            for key, points, colour, label in (
                ("requests", requests, COLOUR["requests"], "requests/s"),
                ("failed", failed, COLOUR["failed_rps"], "failed requests/s"),
            ):
                if not points:
                    continue
                values = [math.nan if v is None else v for _time, v in points]
                (line,) = bottom.plot(
                    _dates([t for t, _value in points]), values, color=colour, lw=1.3, label=label
                )
                line.set_gid(f"traffic-{key}")
                keep.append(f"traffic-{key}")
            gaps = data_gaps(requests, series_step(requests)) if requests else []
            keep.extend(_shade_gaps(bottom, gaps, "traffic-gap"))
            bottom.set_ylim(bottom=0)
            bottom.set_ylabel("requests/s")
            bottom.legend(loc="upper left", fontsize=8, frameon=False)
            bottom.grid(axis="y", color="#e4e4e4", lw=0.6)
            bottom.set_xlabel("time (UTC)")
            _time_axis(bottom)
        else:
            top.set_xlabel("time (UTC)")
        svg = svg_of(fig, "timeline", keep=keep)
    notes = [f"{counts['phase']} phases, {counts['host']} hosts"]
    if len(drawable) < len(bars):
        notes.append(
            "not drawn, no start time: "
            + ", ".join(esc(b.get("label", "unnamed")) for b in bars if b not in drawable)
        )
    if window.get("closed") is None:
        notes.append("the window was still open when the report was written")
    if not has_traffic:
        why = traffic.get("error") or ("no traffic in the report data" if not traffic else "no samples")
        notes.append(f"no traffic data: {esc(why)}")
    elif traffic.get("error"):
        notes.append(f"traffic: {esc(traffic['error'])}")
    caption = "Timeline of the window (UTC): " + "; ".join(notes)
    return (
        f'<figure class="timeline">{svg}<figcaption id="timeline-caption">{caption}</figcaption></figure>',
        counts["phase"] + counts["host"],
    )


# --- the page ---------------------------------------------------------------------------------

CSS = """
:root { --ok: #2e7d32; --warn: #b26a00; --bad: #c0392b; --muted: #666; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #1d1d1d; margin: 0 auto;
       max-width: 1180px; padding: 24px 32px 48px; line-height: 1.45; font-size: 15px; }
h1 { font-size: 1.5em; margin: 0.2em 0; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: 4px; margin-top: 2em; }
.outcome { border-radius: 8px; padding: 18px 24px; color: #fff; background: #616161; }
.outcome-succeeded { background: var(--ok); }
.outcome-rolled-back { background: var(--warn); }
.outcome-failed { background: var(--bad); }
.outcome-status { font-size: 2.4em; font-weight: bold; margin: 0; letter-spacing: 0.02em; }
.outcome-reason { font-size: 1.2em; margin: 4px 0 10px; }
.outcome dl { display: flex; flex-wrap: wrap; gap: 4px 28px; margin: 0; }
.outcome dt { opacity: 0.85; } .outcome dd { margin: 0 0 0 6px; font-weight: bold; }
.outcome dl div { display: flex; }
.warning { border-left: 5px solid var(--bad); background: #fdecea; padding: 8px 14px; }
.note { border: 1px solid #e2e2e2; border-radius: 6px; padding: 4px 22px; background: #fafafa; }
table { border-collapse: collapse; margin: 8px 0 16px; }
th, td { border: 1px solid #d9d9d9; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.status { font-weight: bold; border-radius: 4px; padding: 1px 8px; color: #fff; }
.status-pass, .status-ok, .status-passed { background: var(--ok); }
.status-fail, .status-failed { background: var(--bad); }
.status-inconclusive, .status-missing, .status-no-data { background: var(--warn); }
figure { margin: 12px 0 20px; }
figure svg { width: 100%; height: auto; display: block; }
figure.gate-chart { display: inline-block; width: 49%; vertical-align: top; }
figcaption { color: var(--muted); font-size: 0.9em; }
.nodata { border: 2px dashed var(--bad); color: var(--bad); font-weight: bold; padding: 40px 16px;
          text-align: center; background: repeating-linear-gradient(45deg, #fff, #fff 8px, #f4f4f4 8px, #f4f4f4 16px); }
.missing { color: var(--bad); font-weight: bold; }
code, pre { font-family: "DejaVu Sans Mono", monospace; font-size: 0.9em; }
pre { background: #f6f6f6; padding: 8px; overflow-x: auto; }
footer { margin-top: 3em; color: var(--muted); font-size: 0.85em; }
@media print { figure.gate-chart { width: 100%; } .outcome { -webkit-print-color-adjust: exact; } }
"""


def _table(headers: list[str], rows: list[list[str]], numeric: Iterable[int] = ()) -> str:
    """A table; the cells are HTML already escaped; the columns in numeric aligned right."""
    right = set(numeric)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i in right else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _badge(status: Any) -> str:
    return f'<span class="status status-{slug(status)}">{esc(status)}</span>'


def _section(ident: str, title: str, body: str) -> str:
    return f'<section id="{ident}"><h2>{html.escape(title)}</h2>{body}</section>'


def _missing(what: str) -> str:
    return f'<p class="missing">{html.escape(what)}</p>'


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def outcome_section(data: Mapping[str, Any]) -> str:
    outcome = _mapping(data.get("outcome"))
    status = str(outcome.get("status") or "").strip()
    if status:
        reason = outcome.get("reason") or "no reason recorded"
        css = OUTCOME_CLASS.get(status.lower(), "unknown")
        shown = status[:1].upper() + status[1:]
    else:
        validation = _mapping(data.get("validation"))
        css, shown = "unknown", "Outcome not recorded"
        reason = "The report data has no outcome."
        if "passed" in validation:
            reason += f" The validation {'passed' if validation.get('passed') else 'did not pass'}."
    day = str(data.get("date") or "")
    facts = [
        ("Release", data.get("release")),
        ("Previous release", data.get("previous_release")),
        ("Date", data.get("date")),
        ("Report generated", format_moment(data.get("generated_at"), day or None)),
    ]
    dl = "".join(f"<div><dt>{html.escape(k)}:</dt><dd>{esc(v)}</dd></div>" for k, v in facts)
    return (
        f'<header id="outcome" class="outcome outcome-{css}" data-outcome="{esc(status or "unknown")}">'
        f"<h1>Release report: {esc(data.get('previous_release'))} → {esc(data.get('release'))}</h1>"
        f'<p class="outcome-status">{esc(shown)}</p><p class="outcome-reason">{esc(reason)}</p>'
        f"<dl>{dl}</dl></header>"
    )


def release_note_html(note: str) -> str:
    """The release note's Markdown as HTML: CommonMark and tables, raw HTML in it escaped."""
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(note)


def release_note_section(data: Mapping[str, Any]) -> str:
    note = data.get("release_note")
    if not isinstance(note, str) or not note.strip():
        return _section("release-note", "Release note", _missing("No release note in the report data."))
    left = awaiting(note)
    warning = ""
    if left:
        warning = (
            f'<p class="warning">{len(left)} value{"s" if len(left) > 1 else ""} of the release note '
            f"{'are' if len(left) > 1 else 'is'} still awaiting input: {esc(left)}.</p>"
        )
    return _section(
        "release-note", "Release note", f'{warning}<div class="note">{release_note_html(note)}</div>'
    )


def gate_rows(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every gate of the validation, then a gate that only has a series (by name)."""
    gates = [g for g in _list(_mapping(data.get("validation")).get("gates")) if isinstance(g, Mapping)]
    named = {str(g.get("name")) for g in gates}
    extra = sorted(str(n) for n in _mapping(data.get("series")) if str(n) not in named)
    return gates + [{"name": n} for n in extra]


def gates_section(data: Mapping[str, Any]) -> str:
    gates = gate_rows(data)
    if not gates:
        return _section("gates", "SLO gates", _missing("No gate results in the report data."))
    units = _mapping(data.get("units"))
    rows = []
    for gate in gates:
        unit = gate_unit(str(gate.get("name")), units)
        samples = f"{text(gate.get('samples'))} of {text(gate.get('evaluations'))}"
        rows.append(
            [
                esc(gate.get("name")),
                _badge(gate.get("status", "no status")),
                esc(format_value(gate.get("worst"), unit)),
                esc(format_value(gate.get("last"), unit)),
                esc(format_threshold(gate, unit)),
                esc({"ms": "ms", "percent": "percent"}.get(unit or "", "as measured")),
                esc(samples),
            ]
        )
    body = _table(
        ["gate", "status", "worst", "last", "threshold", "unit", "evaluations with data"], rows, [2, 3, 4]
    )
    failures = _list(_mapping(data.get("validation")).get("failures"))
    if failures:
        body += (
            "<p>Why the validation did not pass:</p><ul>"
            + "".join(f"<li>{esc(f)}</li>" for f in failures)
            + "</ul>"
        )
    return _section("gates", "SLO gates", body)


def observation_window(data: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """The observation window: the validation's, else the timeline's."""
    window = _mapping(_mapping(data.get("validation")).get("window"))
    if timestamp(window.get("start")) is None:
        window = _mapping(_mapping(data.get("timeline")).get("observation"))
    return timestamp(window.get("start")), timestamp(window.get("end"))


def charts_section(data: Mapping[str, Any]) -> tuple[str, int]:
    gates = gate_rows(data)
    if not gates:
        return _section("charts", "Gates over the observation window", _missing("No gate to chart.")), 0
    series = _mapping(data.get("series"))
    units = _mapping(data.get("units"))
    window = observation_window(data)
    figures = [
        gate_chart(g, series.get(str(g.get("name"))), gate_unit(str(g.get("name")), units), window)[0]
        for g in gates
    ]
    intro = f"<p>Observation window {esc(format_time(window[0]))} to {esc(format_time(window[1]))} UTC.</p>"
    return _section("charts", "Gates over the observation window", intro + "".join(figures)), len(figures)


def timings_rows(timings: Any) -> list[list[str]]:
    """The phase rows of the run's timings (no host), each phase once with the time of all its
    rows summed, without the run's own bookkeeping and without a phase still running."""
    order: dict[str, float] = {}
    for row in _list(timings):
        if not isinstance(row, Mapping) or row.get("host") or number(row.get("seconds")) is None:
            continue
        phase = str(row.get("phase"))
        if any(internal in phase for internal in INTERNAL_PHASES):
            continue
        order[phase] = order.get(phase, 0.0) + number(row["seconds"])
    return [[esc(p), esc(format_duration(s))] for p, s in order.items()]


def timeline_section(data: Mapping[str, Any]) -> tuple[str, int]:
    timeline = _mapping(data.get("timeline"))
    if not timeline:
        body = _missing("No timeline in the report data.")
        rows = timings_rows(data.get("timings"))
        if rows:
            body += "<p>Phase durations from the run's timings:</p>" + _table(
                ["phase", "duration"], rows, [1]
            )
        return _section("timeline", "Timeline", body), 0
    figure, bars = timeline_chart(timeline, _mapping(data.get("traffic")))
    rows = []
    for span in _list(timeline.get("bars")):
        if not isinstance(span, Mapping):
            continue
        start, end = timestamp(span.get("start")), timestamp(span.get("end"))
        duration = format_duration(end - start) if start is not None and end is not None else "—"
        rows.append(
            [
                esc(span.get("label")),
                esc(span.get("kind", "phase")),
                esc(format_time(start)),
                esc(format_time(end) if end is not None else "running"),
                esc(duration),
                _badge(span.get("outcome", "ok")),
            ]
        )
    table = (
        _table(["phase or host", "kind", "start", "end", "duration", "outcome"], rows, [2, 3, 4])
        if rows
        else ""
    )
    return _section("timeline", "Timeline", figure + table), bars


def backfill_section(data: Mapping[str, Any]) -> str:
    backfill = _mapping(data.get("backfill"))
    if not backfill:
        return _section("backfill", "Backfill", _missing("No backfill results in the report data."))
    totals = _mapping(backfill.get("totals"))
    verified = backfill.get("verified")
    head = (
        '<p><span class="status status-ok">verified against the source manifests</span></p>'
        if verified
        else '<p><span class="status status-failed">NOT verified against the source manifests</span></p>'
    )
    rows = [
        [html.escape(label), esc(totals.get(key))]
        for label, key in (
            ("batches", "batches"),
            ("batches matched", "batches_matched"),
            ("batches mismatched", "batches_mismatched"),
            ("events in the manifests", "manifest_events"),
            ("events in the batches", "batch_events"),
            ("idempotency keys", "idempotency_keys"),
        )
    ]
    body = head + _table(["total", "count"], rows, [1])
    mismatches = [m for m in _list(backfill.get("mismatches")) if m]
    if mismatches:
        body += "<p>Mismatches:</p><ul>" + "".join(f"<li>{esc(m)}</li>" for m in mismatches) + "</ul>"
    return _section("backfill", "Backfill", body)


def canary_comparison(metric: Mapping[str, Any], unit: str | None) -> tuple[str, str]:
    """How the canary compares with the previous release (`7.80x`, `+0.120%`), and the limit."""
    score, limit = number(metric.get("score")), number(metric.get("limit"))
    if metric.get("compare") == "ratio":
        shown = "—" if score is None else f"{score:.2f}x"
        return shown, "none" if limit is None else f"≤ {limit:g}x"
    shown = "—" if score is None else ("+" if score >= 0 else "") + format_value(score, unit)
    return shown, "none" if limit is None else f"≤ +{format_value(limit, unit)}"


def canary_section(data: Mapping[str, Any]) -> str:
    """The canary batch against the API hosts still on the previous release, metric by metric."""
    canary = _mapping(data.get("canary"))
    if not canary:
        return _section(
            "canary",
            "Canary analysis",
            _missing("No canary analysis in the report data: the canary was not judged."),
        )
    units = _mapping(data.get("units"))
    rows = []
    for metric in (m for m in _list(canary.get("metrics")) if isinstance(m, Mapping)):
        unit = gate_unit(str(metric.get("name")), units)
        comparison, limit = canary_comparison(metric, unit)
        status = {"pass": "pass", "fail": "fail"}.get(str(metric.get("status")), "no data")
        rows.append(
            [
                esc(metric.get("name")),
                esc(format_value(metric.get("canary"), unit)),
                esc(format_value(metric.get("baseline"), unit)),
                esc(comparison),
                esc(limit),
                _badge(status),
            ]
        )
    hosts, baseline = (", ".join(map(text, _list(canary.get(k)))) for k in ("canary", "baseline"))
    intro = (
        f"<p>The canary batch ({esc(hosts)}) on {esc(data.get('release'))}, held {esc(canary.get('bake'))} s once back "
        f"in service, against the hosts still on {esc(data.get('previous_release'))} ({esc(baseline)}): "
        f"{_badge('passed' if canary.get('passed') else 'failed')}</p>"
    )
    headers = ["metric", "canary", "previous release", "canary against it", "limit", "verdict"]
    return _section("canary", "Canary analysis", intro + _table(headers, rows, [1, 2, 3]))


def migrations_section(data: Mapping[str, Any]) -> str:
    if data.get("migrations") is None:
        return _section("migrations", "Migrations applied", _missing("No migrations in the report data."))
    migrations = [m for m in _list(data.get("migrations")) if isinstance(m, Mapping)]
    if not migrations:
        return _section("migrations", "Migrations applied", "<p>None: nothing was pending.</p>")
    day = str(data.get("date") or "") or None
    rows = [
        [
            esc(m.get("name")),
            esc(format_moment(m["applied_at"], day))
            if m.get("applied_at")
            else '<span class="missing">not applied</span>',
        ]
        for m in migrations
    ]
    return _section("migrations", "Migrations applied", _table(["migration", "applied at"], rows))


def replay_section(data: Mapping[str, Any]) -> str:
    replay = [r for r in _list(_mapping(data.get("validation")).get("replay")) if isinstance(r, Mapping)]
    if not replay:
        return _section("replay", "Ingestion replay", _missing("No replay results in the report data."))
    rows = [
        [
            esc(r.get("tenant")),
            esc(r.get("batch_id")),
            esc(r.get("events")),
            esc(r.get("rows_before")),
            esc(r.get("rows_after")),
            _badge("applied once" if r.get("applied_once") else "NOT applied once"),
        ]
        for r in replay
    ]
    return _section(
        "replay",
        "Ingestion replay",
        _table(["tenant", "batch", "events", "rows before", "rows after", "applied once"], rows, [2, 3, 4]),
    )


def checks_section(data: Mapping[str, Any]) -> str:
    validation = _mapping(data.get("validation"))
    cache, dlq, smoke = (_mapping(validation.get(k)) for k in ("cache", "dlq", "smoke"))
    rows = []
    if cache:
        rows.append(
            [
                "Redis hit ratio",
                esc(format_share(cache.get("ratio"))),
                esc(f"{text(cache.get('hits'))} hits, {text(cache.get('misses'))} misses"),
            ]
        )
    if dlq:
        growth = (
            format_share(dlq.get("ratio")) if number(dlq.get("ratio")) is not None else "no ingest traffic"
        )
        rows.append(
            [
                "Dead-letter growth",
                esc(growth),
                esc(f"{text(dlq.get('dead_lettered'))} of {text(dlq.get('ingested'))} events dead-lettered"),
            ]
        )
    smoke_detail = ""
    if smoke:
        rc = smoke.get("rc")
        rows.append(
            [
                "<code>make smoke</code>",
                _badge("passed" if rc == 0 else "failed"),
                esc(f"exit status {text(rc)}"),
            ]
        )
        output = smoke.get("output")
        if output:
            lines = "\n".join(text(line) for line in output) if isinstance(output, list) else text(output)
            smoke_detail = (
                f"<details><summary>make smoke output</summary><pre>{html.escape(lines)}</pre></details>"
            )
    if not rows:
        return _section("checks", "Operational checks", _missing("No operational checks in the report data."))
    return _section(
        "checks", "Operational checks", _table(["check", "result", "detail"], rows) + smoke_detail
    )


def versions_section(data: Mapping[str, Any]) -> str:
    versions = _mapping(data.get("versions"))
    if not versions:
        return _section("versions", "Releases per host", _missing("No releases per host in the report data."))
    release = data.get("release")
    rows = [
        [esc(host), esc(version) if version == release else f'<span class="missing">{esc(version)}</span>']
        for host, version in sorted(versions.items(), key=lambda kv: str(kv[0]))
    ]
    off = sum(1 for v in versions.values() if v != release)
    head = f'<p class="warning">{off} host{"s" if off > 1 else ""} not on {esc(release)}.</p>' if off else ""
    return _section("versions", "Releases per host", head + _table(["host", "release"], rows))


def links_section(data: Mapping[str, Any]) -> str:
    links = _mapping(data.get("links"))
    if not links:
        return _section("links", "Links", _missing("No links in the report data."))
    items = []
    for name, url in sorted(links.items(), key=lambda kv: str(kv[0])):
        target = str(url)
        if re.match(r"^https?://", target, re.IGNORECASE):
            items.append(f'<li><a href="{esc(target)}">{esc(name)}</a></li>')
        else:
            items.append(f"<li>{esc(name)}: {esc(target)}</li>")
    return _section("links", "Links", "<ul>" + "".join(items) + "</ul>")


def signoffs_section(data: Mapping[str, Any]) -> str:
    day = str(data.get("date") or "") or None
    signoffs = [s for s in _list(data.get("signoffs")) if isinstance(s, Mapping)]
    missing = [str(r) for r in _list(data.get("missing_signoffs"))]
    rows = [
        [esc(s.get("role")), esc(s.get("name")), esc(format_moment(s.get("at"), day)), esc(s.get("ticket"))]
        for s in signoffs
    ]
    rows += [[esc(role), '<span class="missing">missing</span>', "—", "—"] for role in missing]
    body = ""
    if missing:
        body += f'<p class="warning">Not signed off: {esc(missing)} missing.</p>'
    if "missing_signoffs" not in data:
        body += _missing("The report data does not say which sign-offs are missing.")
    body += _table(["role", "name", "at", "ticket"], rows) if rows else _missing("No sign-off recorded.")
    return _section("signoffs", "Sign-offs", body)


def render_report(data: Mapping[str, Any]) -> RenderedReport:
    """The whole page from the report data (the contract of the report role's report_data)."""
    data = _mapping(data)
    charts, chart_count = charts_section(data)
    timeline, bars = timeline_section(data)
    title = f"Release report {text(data.get('release'))}: {text(_mapping(data.get('outcome')).get('status') or 'outcome not recorded')}"
    page = "".join(
        [
            "<!DOCTYPE html>\n",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>\n",
            outcome_section(data),
            "\n",
            release_note_section(data),
            "\n",
            gates_section(data),
            "\n",
            charts,
            "\n",
            timeline,
            "\n",
            canary_section(data),
            backfill_section(data),
            migrations_section(data),
            replay_section(data),
            checks_section(data),
            versions_section(data),
            "\n",
            links_section(data),
            signoffs_section(data),
            f"\n<footer>IntelGraph release report, {esc(data.get('release'))}, generated "
            f"{esc(format_moment(data.get('generated_at')))}.</footer>\n</body></html>\n",
        ]
    )
    return RenderedReport(html=page, charts=chart_count, bars=bars)

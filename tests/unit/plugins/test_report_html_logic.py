"""intelgraph.ops.release_report_html: the release report's data as one HTML page (units, times,
gaps, the no-data figure, escaping, the timeline's bar ids, no JSON)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from ansible_collections.intelgraph.ops.plugins.module_utils._report_html import (
    data_gaps,
    format_duration,
    format_moment,
    format_share,
    format_threshold,
    format_time,
    format_value,
    gate_chart,
    gate_unit,
    render_report,
    series_points,
    series_step,
    timeline_chart,
    timings_rows,
)

T0 = 1796513400.0  # 2026-12-05 23:30:00 UTC


def points(values: list[float | None], step: float = 15.0, start: float = T0) -> list[list[Any]]:
    return [[start + i * step, v] for i, v in enumerate(values)]


def gate(name: str, threshold: float = 0.3, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "status": "pass",
        "worst": threshold / 2,
        "last": threshold / 3,
        "threshold": threshold,
        "direction": "below",
        "samples": 8,
        "evaluations": 8,
        **extra,
    }


CANARY: dict[str, Any] = {
    "passed": True,
    "canary": ["api1"],
    "baseline": ["api2", "api3"],
    "bake": 60,
    "metrics": [
        {
            "name": "error_rate",
            "compare": "delta",
            "limit": 0.01,
            "canary": 0.002,
            "baseline": 0.001,
            "score": 0.001,
            "status": "pass",
        },
        {
            "name": "read_p95",
            "compare": "ratio",
            "limit": 1.5,
            "canary": 0.0041,
            "baseline": 0.0039,
            "score": 1.0,
            "status": "pass",
        },
        {
            "name": "write_p95",
            "compare": "ratio",
            "limit": 1.5,
            "canary": None,
            "baseline": 0.012,
            "score": None,
            "status": "nodata",
        },
    ],
}


def report(**changes: Any) -> dict[str, Any]:
    """A small report of a good upgrade, every key of the contract present."""
    data: dict[str, Any] = {
        "release": "24.1.0",
        "previous_release": "24.0.0",
        "date": "2026-12-05",
        "generated_at": "2026-12-05T23:50:00",
        "outcome": {"status": "succeeded", "reason": "every gate passed"},
        "release_note": "**Release:** v24.1\n\n- Read p95: 120.0 ms\n",
        "values": {"p95 read latency": "120.0 ms"},
        "units": {"read_p95": "ms", "error_rate": "percent"},
        "validation": {
            "passed": True,
            "failures": [],
            "gates": [gate("read_p95"), gate("error_rate", 0.01)],
            "window": {"start": T0 + 300, "end": T0 + 300 + 7 * 15},
            "cache": {"hits": 96, "misses": 1, "ratio": 0.9896907},
            "dlq": {"dead_lettered": 0, "ingested": 500, "ratio": 0.0},
            "smoke": {"rc": 0, "output": ["smoke: passed 7 checks"]},
            "replay": [
                {
                    "tenant": "acme",
                    "batch_id": "hist-9",
                    "events": 50,
                    "rows_before": 50,
                    "rows_after": 50,
                    "applied_once": True,
                }
            ],
        },
        "series": {
            "read_p95": {"points": points([0.1] * 8, start=T0 + 300), "step": 15, "error": None},
            "error_rate": {"points": points([0.001] * 8, start=T0 + 300), "step": 15, "error": None},
        },
        "traffic": {
            "requests": points([50.0] * 40, step=15),
            "failed": points([0.5] * 40, step=15),
            "error": None,
        },
        "timeline": {
            "window": {"opened": T0, "closed": T0 + 600, "deadline": T0 + 900},
            "observation": {"start": T0 + 300, "end": T0 + 405},
            "bars": [
                {"label": "Pre-check", "kind": "phase", "start": T0, "end": T0 + 60, "outcome": "ok"},
                {
                    "label": "Roll out the API",
                    "kind": "phase",
                    "start": T0 + 60,
                    "end": T0 + 240,
                    "outcome": "ok",
                },
                {"label": "api1", "kind": "host", "start": T0 + 60, "end": T0 + 120, "outcome": "ok"},
                {"label": "api2", "kind": "host", "start": T0 + 120, "end": T0 + 180, "outcome": "failed"},
            ],
        },
        "migrations": [{"name": "0007_idempotency", "applied_at": "2026-12-05T23:31:05Z"}],
        "canary": CANARY,
        "backfill": {
            "verified": True,
            "totals": {
                "batches": 12,
                "batches_matched": 12,
                "batches_mismatched": 0,
                "manifest_events": 600,
                "batch_events": 600,
                "idempotency_keys": 600,
            },
            "mismatches": [],
        },
        "versions": {"api1": "24.1.0", "api2": "24.1.0"},
        "links": {"Prometheus": "http://prometheus:9090/graph"},
        "signoffs": [
            {"role": "Release Captain", "name": "ana", "at": "2026-12-05T23:55:00Z", "ticket": "REL-1"}
        ],
        "missing_signoffs": ["On-call SRE"],
        "timings": [],
    }
    for key, value in changes.items():
        data[key] = value
    return data


def ids(page: str) -> list[str]:
    return re.findall(r'\bid="([^"]+)"', page)


# --- units and formats ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "units", "expected"),
    [
        ("read_p95", None, "ms"),
        ("ingest_p95", {}, "ms"),
        ("error_rate", None, "percent"),
        ("read_p95", {"read_p95": "percent"}, "percent"),
        ("queue_depth", None, None),
        ("queue_depth", {"queue_depth": "furlongs"}, None),
    ],
)
def test_gate_unit(name: str, units: dict[str, str] | None, expected: str | None) -> None:
    assert gate_unit(name, units) == expected


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (0.3, "ms", "300.0 ms"),
        (0.01234, "ms", "12.3 ms"),
        (0.0012, "percent", "0.120%"),
        (0.01, "percent", "1.000%"),
        (1.5, None, "1.5"),
        (1234567, None, "1.23457e+06"),
        (None, "ms", "no data"),
        ("not a number", "ms", "no data"),
        (float("nan"), "percent", "no data"),
        (True, None, "no data"),
    ],
)
def test_format_value(value: Any, unit: str | None, expected: str) -> None:
    assert format_value(value, unit) == expected


@pytest.mark.parametrize(
    ("direction", "threshold", "unit", "expected"),
    [
        ("below", 0.3, "ms", "≤ 300.0 ms"),
        ("above", 0.75, "percent", "≥ 75.000%"),
        ("below", 4, None, "≤ 4"),
        ("below", None, "ms", "none"),
    ],
)
def test_format_threshold(direction: str, threshold: float | None, unit: str | None, expected: str) -> None:
    assert format_threshold({"direction": direction, "threshold": threshold}, unit) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0.017, "<0.1s"),
        (0.43, "0.4s"),
        (3.887, "3.9s"),
        (9.96, "10s"),
        (42.4, "42s"),
        (59.6, "1m 00s"),
        (65, "1m 05s"),
        (905.2, "15m 05s"),
        (3725, "1h 02m 05s"),
        (None, "—"),
        (-1, "—"),
    ],
)
def test_format_duration(seconds: Any, expected: str) -> None:
    assert format_duration(seconds) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (T0 + 53.6, "23:30:53"),
        ("2026-12-05T23:40:53.604782", "23:40:53"),
        ("2026-12-05T23:40:53Z", "23:40:53"),
        ("2026-12-06T01:40:53+02:00", "23:40:53"),
        (None, "—"),
        ("yesterday", "—"),
    ],
)
def test_format_time_is_utc(value: Any, expected: str) -> None:
    assert format_time(value) == expected


@pytest.mark.parametrize(
    ("value", "day", "expected"),
    [
        ("2026-12-05T23:55:00Z", "2026-12-05", "23:55:00 UTC"),
        ("2026-12-06T00:05:00Z", "2026-12-05", "2026-12-06 00:05:00 UTC"),
        ("after the call", "2026-12-05", "after the call"),
        (None, None, "—"),
    ],
)
def test_format_moment(value: Any, day: str | None, expected: str) -> None:
    assert format_moment(value, day) == expected


@pytest.mark.parametrize(("share", "expected"), [(0.9896907, "98.97%"), (0, "0.00%"), (None, "no data")])
def test_format_share(share: Any, expected: str) -> None:
    assert format_share(share) == expected


# --- series and gaps --------------------------------------------------------------------------


def test_series_points_sorted_and_malformed_left_out() -> None:
    raw = [[T0 + 15, 2], [T0, 1], ["x", 3], [T0 + 30], None, [T0 + 45, None]]
    assert series_points(raw) == [(T0, 1.0), (T0 + 15, 2.0), (T0 + 45, None)]


@pytest.mark.parametrize(
    ("raw", "given", "expected"),
    [
        ([[0, 1], [15, 1], [45, 1]], None, 15.0),
        ([[0, 1]], None, 0.0),
        ([[0, 1], [15, 1]], 30, 30.0),
        ([], None, 0.0),
    ],
)
def test_series_step(raw: list[list[Any]], given: Any, expected: float) -> None:
    assert series_step(series_points(raw), given) == expected


@pytest.mark.parametrize(
    ("values", "window", "expected"),
    [
        pytest.param([1, 1, 1, 1], (None, None), [], id="complete"),
        pytest.param([1, None, None, 1], (None, None), [(0, 45)], id="null run"),
        pytest.param([None, 1, 1], (None, None), [(0, 15)], id="leading null"),
        pytest.param([1, 1, None], (None, None), [(15, 30)], id="trailing null"),
        pytest.param([1, 1, 1], (-60, 90), [(-60, 0), (30, 90)], id="window wider than the points"),
        pytest.param([1, 1, 1], (-10, 40), [], id="window within a step"),
        pytest.param([None, None], (None, None), [(0, 15)], id="no value at all"),
        pytest.param([None, None], (-30, 60), [(-30, 60)], id="no value over the window"),
        pytest.param([], (0, 60), [(0, 60)], id="no points over the window"),
        pytest.param([], (None, None), [], id="nothing known"),
    ],
)
def test_data_gaps(
    values: list[float | None], window: tuple[Any, Any], expected: list[tuple[float, float]]
) -> None:
    assert data_gaps(series_points(points(values, start=0)), 15.0, *window) == expected


def test_a_hole_between_points_is_a_gap() -> None:
    """Points missing altogether (no null sent for them) count as a gap when more than 1.5 steps apart."""
    raw = series_points([[0, 1], [15, 1], [90, 1], [105, 1]])
    assert data_gaps(raw, series_step(raw, 15)) == [(15, 90)]


# --- gate figures -----------------------------------------------------------------------------


def test_a_gate_chart_has_the_series_the_threshold_and_the_gap_bands() -> None:
    series = {
        "points": points([0.1, 0.12, None, None, 0.11, 0.1]),
        "step": 15,
        "error": "Prometheus unreachable",
    }
    figure, has_data = gate_chart(gate("write_p95", 0.5), series, "ms")
    assert has_data
    assert figure.startswith('<figure class="gate-chart" data-gate="write_p95">')
    assert "data-nodata" not in figure
    assert '<g id="gate-write_p95-series">' in figure
    assert '<g id="gate-write_p95-threshold">' in figure
    assert re.findall(r'id="(gate-write_p95-gap-\d+)"', figure) == ["gate-write_p95-gap-0"]
    assert ">no data</text>" in figure  # the band's label, text in the DOM
    assert "threshold ≤ 500.0 ms</text>" in figure
    assert "<figcaption" in figure and "Prometheus unreachable" in figure
    assert "<?xml" not in figure and "<!DOCTYPE" not in figure


@pytest.mark.parametrize(
    ("series", "says"),
    [
        ({"points": [], "step": 15, "error": "Prometheus unreachable"}, "no data: Prometheus unreachable"),
        (
            {"points": points([None, None]), "step": 15, "error": None},
            "no data: the query returned no samples",
        ),
        (None, "no data: no series in the report data"),
    ],
)
def test_a_gate_without_any_value_gets_a_no_data_figure_not_an_empty_chart(series: Any, says: str) -> None:
    figure, has_data = gate_chart(gate("read_p95"), series, "ms")
    assert not has_data
    assert figure.startswith('<figure class="gate-chart" data-gate="read_p95" data-nodata="true">')
    assert says in figure
    assert "<svg" not in figure


def test_the_chart_is_in_the_gates_unit() -> None:
    """A latency in seconds is drawn in ms: its axis reads ms, and the threshold line says so."""
    series = {"points": points([0.1, 0.2, 0.15]), "step": 15, "error": None}
    figure = gate_chart(gate("read_p95", 0.3), series, "ms")[0]
    assert ">ms</text>" in figure and ">300</text>" in figure


# --- the timeline -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("traffic", "traffic_axis", "caption"),
    [
        pytest.param(report()["traffic"], True, "10 phases, 3 hosts", id="with traffic"),
        pytest.param({}, False, "no traffic data: no traffic in the report data", id="no traffic key"),
        pytest.param(
            {"requests": [], "failed": [], "error": "Prometheus unreachable"},
            False,
            "no traffic data: Prometheus unreachable",
            id="traffic unreachable",
        ),
    ],
)
def test_timeline_bars_have_ids_and_traffic_shares_the_time_axis(
    traffic: dict[str, Any], traffic_axis: bool, caption: str
) -> None:
    phases = [
        {"label": f"phase {i}", "kind": "phase", "start": T0 + i * 30, "end": T0 + i * 30 + 25}
        for i in range(10)
    ]
    hosts = [
        {"label": f"api{i}", "kind": "host", "start": T0 + 100 + i * 20, "end": T0 + 115 + i * 20}
        for i in range(3)
    ]
    timeline = {
        "window": {"opened": T0, "closed": T0 + 600, "deadline": T0 + 900},
        "observation": {"start": T0 + 300, "end": T0 + 405},
        "bars": phases + hosts,
    }
    figure, bars = timeline_chart(timeline, traffic)
    assert bars == 13
    assert figure.startswith('<figure class="timeline">')
    found = ids(figure)
    assert [i for i in found if i.startswith("bar-phase-")] == [f"bar-phase-{i}" for i in range(10)]
    assert [i for i in found if i.startswith("bar-host-")] == [f"bar-host-{i}" for i in range(3)]
    assert ('id="timeline-traffic"' in figure) is traffic_axis
    assert ('id="traffic-requests"' in figure) is traffic_axis
    for mark in ("window opened", "deadline", "window closed", "observation start", "observation end"):
        assert f">{mark}</text>" in figure
    assert caption in figure


def test_a_traffic_gap_is_shaded() -> None:
    traffic = {
        "requests": points([50, 50, None, None, None, 50, 50]),
        "failed": points([0] * 7),
        "error": None,
    }
    figure = timeline_chart(report()["timeline"], traffic)[0]
    assert 'id="traffic-gap-0"' in figure


def test_a_bar_without_a_start_is_named_not_drawn_and_an_open_window_said() -> None:
    timeline = copy.deepcopy(report()["timeline"])
    timeline["window"]["closed"] = None
    timeline["bars"].append({"label": "Validate", "kind": "phase", "start": None, "end": None})
    figure, bars = timeline_chart(timeline, {})
    assert bars == 4
    assert "not drawn, no start time: Validate" in figure
    assert "the window was still open" in figure


def test_no_times_at_all_is_said() -> None:
    figure, bars = timeline_chart({"bars": []}, {})
    assert bars == 0 and 'data-nodata="true"' in figure and "<svg" not in figure


# --- the page ---------------------------------------------------------------------------------


def test_the_page_in_order_outcome_first() -> None:
    page = render_report(report()).html
    order = [
        "outcome",
        "release-note",
        "gates",
        "charts",
        "timeline",
        "canary",
        "backfill",
        "migrations",
        "replay",
    ]
    order += ["checks", "versions", "links", "signoffs"]
    positions = [page.index(f'id="{section}"') for section in order]
    assert positions == sorted(positions)
    assert 'class="outcome outcome-succeeded" data-outcome="succeeded"' in page
    assert '<p class="outcome-status">Succeeded</p>' in page


@pytest.mark.parametrize(
    ("outcome", "css", "shown"),
    [
        (
            {"status": "rolled back", "reason": "read_p95 over its threshold"},
            "outcome-rolled-back",
            "Rolled back",
        ),
        ({"status": "failed", "reason": "api2 did not come back"}, "outcome-failed", "Failed"),
        (None, "outcome-unknown", "Outcome not recorded"),
    ],
)
def test_the_outcome_is_coloured_and_says_why(outcome: Any, css: str, shown: str) -> None:
    data = report(outcome=outcome) if outcome else {k: v for k, v in report().items() if k != "outcome"}
    page = render_report(data).html
    assert f'class="outcome {css}"' in page
    assert f'<p class="outcome-status">{shown}</p>' in page
    if outcome:
        assert outcome["reason"] in page
    else:
        assert "The report data has no outcome. The validation passed." in page


def test_the_gates_table_in_units() -> None:
    data = report()
    data["validation"]["gates"].append(gate("queue_depth", 40, worst=12, last=3))
    page = render_report(data).html
    assert "<td>read_p95</td>" in page and "150.0 ms" in page and "≤ 300.0 ms" in page
    assert "0.500%" in page and "≤ 1.000%" in page  # error_rate 0.005 worst, in percent
    row = re.search(r"<tr><td>queue_depth</td>.*?</tr>", page).group(0)
    assert ">12<" in row and ">≤ 40<" in row and "as measured" in row and " ms" not in row


def test_one_chart_per_gate_and_a_series_without_a_gate_too() -> None:
    data = report()
    data["series"]["orphan"] = {"points": points([1, 2]), "step": 15, "error": None}
    rendered = render_report(data)
    assert rendered.charts == 3
    assert re.findall(r'<figure class="gate-chart" data-gate="([^"]+)"', rendered.html) == [
        "read_p95",
        "error_rate",
        "orphan",
    ]


def test_a_prometheus_outage_shows_no_data_figures() -> None:
    data = report()
    data["series"] = {
        g: {"points": [], "step": 15, "error": "Prometheus unreachable"} for g in ("read_p95", "error_rate")
    }
    page = render_report(data).html
    assert page.count('data-nodata="true"') == 2
    assert page.count("no data: Prometheus unreachable") == 2


HOSTILE = '<script>alert("x")</script>'


@pytest.mark.parametrize(
    "where",
    [
        "host bar",
        "version host",
        "outcome reason",
        "release note",
        "sign-off name",
        "link name",
        "gate name",
        "replay tenant",
    ],
)
def test_everything_is_escaped(where: str) -> None:
    data = report()
    if where == "host bar":
        data["timeline"]["bars"].append(
            {"label": f"api3{HOSTILE}", "kind": "host", "start": T0 + 200, "end": T0 + 230}
        )
    elif where == "version host":
        data["versions"][f"api3{HOSTILE}"] = "24.1.0"
    elif where == "outcome reason":
        data["outcome"]["reason"] = HOSTILE
    elif where == "release note":
        data["release_note"] += f"\n{HOSTILE}\n\n[click](javascript:alert(1))\n"
    elif where == "sign-off name":
        data["signoffs"][0]["name"] = HOSTILE
    elif where == "link name":
        data["links"] = {HOSTILE: "javascript:alert(1)"}
    elif where == "gate name":
        data["validation"]["gates"].append(gate(HOSTILE))
    elif where == "replay tenant":
        data["validation"]["replay"][0]["tenant"] = HOSTILE
    page = render_report(data).html
    assert "<script" not in page.lower()
    assert 'href="javascript' not in page.lower()
    assert "&lt;script&gt;alert(" in page


def test_no_json_on_the_page() -> None:
    data = report()
    data["backfill"]["mismatches"] = [{"batch": "hist-3", "manifest_events": 50, "batch_events": 49}]
    page = render_report(data).html
    assert '{"' not in page and "{'" not in page and '":' not in page
    for part in (data["backfill"], data["backfill"]["totals"], data["validation"]["cache"]):
        assert json.dumps(part) not in page
    assert "batch: hist-3; manifest_events: 50; batch_events: 49" in page


def test_ids_are_unique_on_the_page() -> None:
    data = report()
    data["series"]["write_p95"] = {"points": points([0.1, None, 0.1]), "step": 15, "error": None}
    data["validation"]["gates"].append(gate("write_p95"))
    found = ids(render_report(data).html)
    assert len(found) == len(set(found)), sorted({i for i in found if found.count(i) > 1})


def test_nothing_is_fetched_when_the_page_is_viewed() -> None:
    page = render_report(report()).html
    assert not re.search(r"<(script|link|img|iframe)\b", page, re.IGNORECASE)
    assert not re.search(r'(src|href)="(https?:)?//', page.replace('href="http://prometheus:9090/graph"', ""))
    assert "@import" not in page and "url(http" not in page


def test_the_same_data_gives_the_same_page() -> None:
    assert render_report(report()).html == render_report(report()).html


@pytest.mark.parametrize(
    ("note", "warning"),
    [
        ("- Read p95: 120.0 ms\n", None),
        (
            "- Read p95: [Awaiting Input: p95 read latency]\n",
            "1 value of the release note is still awaiting input: p95 read latency.",
        ),
    ],
)
def test_a_placeholder_left_in_the_note_stays_visible(note: str, warning: str | None) -> None:
    page = render_report(report(release_note=note)).html
    assert ("[Awaiting Input" in page) is (warning is not None)
    if warning:
        assert warning in page
        assert "<li>Read p95: [Awaiting Input: p95 read latency]</li>" in page


def test_the_tables() -> None:
    page = render_report(report()).html
    for cell in ("events in the manifests", "idempotency keys", ">600<", "0007_idempotency", "23:31:05 UTC"):
        assert cell in page
    assert "<td>acme</td><td>hist-9</td>" in page
    assert "98.97%" in page and "0.00%" in page and "exit status 0" in page
    assert "Not signed off: On-call SRE missing." in page
    assert "<td>ana</td><td>23:55:00 UTC</td><td>REL-1</td>" in page
    assert '<a href="http://prometheus:9090/graph">Prometheus</a>' in page


def test_missing_keys_are_said_missing() -> None:
    rendered = render_report({"release": "24.1.0"})
    assert (rendered.charts, rendered.bars) == (0, 0)
    for says in (
        "Outcome not recorded",
        "No release note in the report data.",
        "No gate results in the report data.",
        "No timeline in the report data.",
        "No backfill results in the report data.",
        "No migrations in the report data.",
        "No canary analysis in the report data: the canary was not judged.",
        "No replay results in the report data.",
        "No releases per host in the report data.",
        "No sign-off recorded.",
    ):
        assert says in rendered.html


def test_timings_without_internal_rows_or_a_running_phase() -> None:
    timings = [
        {"phase": "Upgrade | roll out the API", "host": None, "seconds": 3.6},
        {"phase": "Upgrade | roll out the API", "host": "api1", "seconds": 3.5},
        {"phase": "Upgrade | roll out the API", "host": None, "seconds": 62.0},
        {"phase": "Upgrade | what check mode does not verify", "host": None, "seconds": 0.01},
        {"phase": "Validate | SLO gates", "host": None, "seconds": None},
    ]
    assert timings_rows(timings) == [["Upgrade | roll out the API", "1m 06s"]]
    page = render_report(report(timeline=None, timings=timings)).html
    assert "No timeline in the report data." in page and "1m 06s" in page
    assert "what check mode" not in page and "running" not in page


def test_the_canary_against_the_previous_release_in_units() -> None:
    page = render_report(report()).html
    section = page[page.index('id="canary"') : page.index('id="backfill"')]
    assert (
        "The canary batch (api1) on 24.1.0, held 60 s once back in service, against the hosts still on 24.0.0 (api2, api3)"
        in section
    )
    assert "status-passed" in section
    rows = re.findall(r"<tr>(.*?)</tr>", section)[1:]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]
    assert [c[:5] for c in cells] == [
        ["error_rate", "0.200%", "0.100%", "+0.100%", "≤ +1.000%"],
        ["read_p95", "4.1 ms", "3.9 ms", "1.00x", "≤ 1.5x"],
        ["write_p95", "no data", "12.0 ms", "—", "≤ 1.5x"],
    ]
    assert [re.sub(r"<[^>]+>", "", c[5]) for c in cells] == ["pass", "pass", "no data"]


def test_a_failed_canary_is_said_failed() -> None:
    failed = {**CANARY, "passed": False}
    page = render_report(report(canary=failed)).html
    section = page[page.index('id="canary"') : page.index('id="backfill"')]
    assert "status-failed" in section and ">failed<" in section

"""Secrets in URLs are never shown: failure messages, the maintenance window's record and
announcements, and the release report's links all go through one redaction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible_collections.intelgraph.ops.plugins.filter.report import url_template
from ansible_collections.intelgraph.ops.plugins.module_utils._inputs import input_errors
from ansible_collections.intelgraph.ops.plugins.module_utils._redact import (
    redact_data,
    redact_text,
    redact_url,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._window import announcement, open_window
from conftest import run_module

SECRET = "s3cr3t-value"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://hooks.example.net/services/T0", "https://hooks.example.net/services/T0"),
        (f"https://ops:{SECRET}@hooks.example.net/x", "https://***@hooks.example.net/x"),
        (f"https://{SECRET}@github.example.net/org/repo", "https://***@github.example.net/org/repo"),
        (f"postgresql://intelgraph:{SECRET}@db1:5432/intelgraph", "postgresql://***@db1:5432/intelgraph"),
        (f"redis://:{SECRET}@cache1:6379/0", "redis://***@cache1:6379/0"),
        (
            f"https://grafana.example.net/d/ig?orgId=1&auth_token={SECRET}&from=1",
            "https://grafana.example.net/d/ig?orgId=1&auth_token=***&from=1",
        ),
        (f"https://x.example.net/?token={SECRET}", "https://x.example.net/?token=***"),
        (f"https://x.example.net/?api_key={SECRET}#a", "https://x.example.net/?api_key=***#a"),
        (f"https://x.example.net/?X-Amz-Signature={SECRET}", "https://x.example.net/?X-Amz-Signature=***"),
        (f"https://x.example.net/cb#access_token={SECRET}", "https://x.example.net/cb#access_token=***"),
        (f"ops:{SECRET}@hooks.example.net/x", "***@hooks.example.net/x"),
        ("https://x.example.net/?q=a&from=now-1h", "https://x.example.net/?q=a&from=now-1h"),
    ],
)
def test_redact_url_hides_userinfo_and_query_tokens(url: str, expected: str) -> None:
    assert redact_url(url) == expected
    assert SECRET not in redact_url(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"https://ops:{SECRET}@hooks.example.net/services/{SECRET}", "https://***@hooks.example.net/…"),
        (f"https://hooks.example.net/?token={SECRET}", "https://hooks.example.net/…"),
        ("https://hooks.example.net", "https://hooks.example.net"),
        (f"hooks.example.net/{SECRET}", "hooks.example.net/…"),
    ],
)
def test_redact_url_without_the_path(url: str, expected: str) -> None:
    assert redact_url(url, keep_path=False) == expected


def test_redact_text_and_data_find_urls_anywhere() -> None:
    text = f"cannot reach 'postgresql://u:{SECRET}@db1/x' (https://h/?token={SECRET}): refused"
    assert SECRET not in redact_text(text)
    assert "postgresql://***@db1/x" in redact_text(text)
    data = {"a": [f"see https://u:{SECRET}@h/x", 3, None], "b": {"c": f"http://h/?password={SECRET}"}}
    assert SECRET not in json.dumps(redact_data(data))
    assert redact_data(data)["a"][1:] == [3, None]


@pytest.mark.parametrize(
    "values",
    [
        {"intelgraph_window_webhook_url": f"https://ops:{SECRET}@hooks.example.net/services/T0"},
        {"intelgraph_window_webhook_url": f"ftp://ops:{SECRET}@hooks.example.net/"},
        {"intelgraph_window_links": {"dash": f"https://ops:{SECRET}@grafana.example.net/d/ig", "bad": "x"}},
        {"intelgraph_window_links": {"dash": f"https://g.example.net/d?token={SECRET}", "bad": 1}},
    ],
)
def test_a_rejected_input_url_is_named_without_its_secret(values: dict) -> None:
    errors = input_errors(values)
    assert len(errors) == 1, errors
    assert SECRET not in errors[0]
    assert "***" in errors[0]


def test_the_window_keeps_and_announces_its_links_without_secrets() -> None:
    links = {
        "dashboard": f"https://grafana.example.net/d/ig?orgId=1&token={SECRET}",
        "logs": f"https://viewer:{SECRET}@logs.example.net/q",
    }
    window = open_window(1_800_000_000, "24.1.0", 15, links=links)
    assert SECRET not in json.dumps(window)
    assert window["links"]["dashboard"] == "https://grafana.example.net/d/ig?orgId=1&token=***"
    # A window handed back by hand (or read from an older record) is announced redacted too.
    message = announcement(dict(window, links=links))
    assert SECRET not in json.dumps(message)


def test_report_links_are_written_without_secrets() -> None:
    link = url_template(f"https://grafana.example.net/d/ig?from={{start}}&apikey={SECRET}", {"start": 1})
    assert link == "https://grafana.example.net/d/ig?from=1&apikey=***"


def test_the_module_refuses_a_webhook_url_with_credentials_without_showing_them() -> None:
    result = run_module(
        "maintenance_window",
        {"state": "open", "release": "24.1.0", "webhook_url": f"https://ops:{SECRET}@hooks.example.net/T0"},
    )
    assert result["failed"]
    assert "https://***@hooks.example.net/…" in result["msg"]
    assert SECRET not in json.dumps(result)


def test_the_module_records_the_window_without_secrets(tmp_path: Path) -> None:
    links = {"dashboard": f"https://grafana.example.net/d/ig?token={SECRET}"}
    result = run_module("maintenance_window", {"state": "open", "release": "24.1.0", "links": links})
    assert not result.get("failed"), result
    # (`invocation` echoes the options as given, which only -v shows.)
    assert SECRET not in json.dumps({k: v for k, v in result.items() if k != "invocation"})
    # Kept as given back, secrets and all: the record still holds none.
    window = dict(result["record"]["window"], links=links)
    log = [dict(line, links=links) for line in result["record"]["log"]]
    kept = run_module(
        "maintenance_window", {"state": "record", "record_dir": str(tmp_path), "window": window, "log": log}
    )
    assert not kept.get("failed"), kept
    for name in ("window.json", "announcements.log"):
        assert SECRET not in (tmp_path / name).read_text()
        assert "https://grafana.example.net/d/ig?token=***" in (tmp_path / name).read_text()


@pytest.mark.parametrize(
    ("module", "args"),
    [
        ("prometheus_series", {"metric": "up", "expected": ["api1"], "wait_timeout": 0}),
        ("traffic_check", {"max_rate": 1}),
    ],
)
def test_an_unreachable_prometheus_is_named_without_its_password(module: str, args: dict) -> None:
    result = run_module(module, {"prometheus_url": f"http://ops:{SECRET}@127.0.0.1:9", "timeout": 2, **args})
    assert result["failed"]
    assert "http://***@127.0.0.1:9" in result["msg"]
    assert SECRET not in json.dumps({k: v for k, v in result.items() if k != "invocation"})

"""Open an HTML release report in headless Chromium, as a reader's browser shows it: a screenshot
of the page kept as a PNG, and what the rendered page holds, read from the DOM Chromium dumps
(the standard library's html.parser; no browser driver)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

CHROMIUM_NAMES = ("chromium", "chromium-browser")
TIMEOUT = 120
# Elements that have no end tag in HTML: they never open a scope.
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SKIP_TEXT = {"style", "script", "title"}


class ChromiumError(AssertionError):
    """Chromium is not installed, or did not render the page."""


def chromium() -> str:
    """The Chromium program; ChromiumError naming what installs it when there is none."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise ChromiumError(
        "Chromium is not installed (no chromium or chromium-browser on PATH): "
        "run `sudo make host-deps` (sandbox/setup-host.sh installs Debian's chromium package), "
        "or `apt-get install chromium`."
    )


def _run(args: list[str], what: str) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ChromiumError(f"Chromium did not finish {what} within {TIMEOUT} s: {' '.join(args)}") from exc
    if proc.returncode != 0:
        raise ChromiumError(
            f"Chromium failed {what} (exit status {proc.returncode}): {' '.join(args)}\n{proc.stderr[-3000:]}"
        )
    return proc


class ReportDom(HTMLParser):
    """What a reader sees on the rendered report: the gate figures, the timeline's bars, the text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.gate_charts: list[dict[str, Any]] = []
        self.timeline_figures = 0
        self.phase_bars: list[str] = []
        self.host_bars: list[str] = []
        self.ids: list[str] = []
        self.text_parts: list[str] = []
        self.outcome: dict[str, str] = {"data": "", "status": "", "reason": ""}
        self.scripts = 0
        self._figure: str | None = None
        self._stack: list[tuple[str, str | None]] = []  # (tag, what its text is collected for)

    def _collecting(self) -> str | None:
        for _, purpose in reversed(self._stack):
            if purpose:
                return purpose
        return None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        classes = attributes.get("class", "").split()
        ident = attributes.get("id")
        if ident:
            self.ids.append(ident)
        if tag == "script":
            self.scripts += 1
        if tag == "figure":
            if "gate-chart" in classes:
                self._figure = "gate"
                self.gate_charts.append(
                    {
                        "gate": attributes.get("data-gate", ""),
                        "nodata": attributes.get("data-nodata") == "true",
                    }
                )
            elif "timeline" in classes:
                self._figure = "timeline"
                self.timeline_figures += 1
        if self._figure == "timeline" and ident:
            if ident.startswith("bar-phase-"):
                self.phase_bars.append(ident)
            elif ident.startswith("bar-host-"):
                self.host_bars.append(ident)
        if ident == "outcome":
            self.outcome["data"] = attributes.get("data-outcome", "")
        purpose = None
        if "outcome-status" in classes:
            purpose = "status"
        elif "outcome-reason" in classes:
            purpose = "reason"
        elif tag in SKIP_TEXT:
            purpose = "skip"
        if tag not in VOID:
            self._stack.append((tag, purpose))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index][0] == tag:
                del self._stack[index:]
                break

    def handle_data(self, data: str) -> None:
        purpose = self._collecting()
        if purpose == "skip":
            return
        self.text_parts.append(data)
        if purpose in ("status", "reason"):
            self.outcome[purpose] += data


def read_dom(dom: str) -> dict[str, Any]:
    """What the page holds, from its (rendered) HTML."""
    parser = ReportDom()
    parser.feed(dom)
    parser.close()
    text = " ".join(" ".join(parser.text_parts).split())
    return {
        "gate_charts": len(parser.gate_charts),
        "gates": [c["gate"] for c in parser.gate_charts],
        "nodata_gates": [c["gate"] for c in parser.gate_charts if c["nodata"]],
        "timeline_figures": parser.timeline_figures,
        "phase_bars": len(parser.phase_bars),
        "host_bars": len(parser.host_bars),
        "ids": parser.ids,
        "duplicate_ids": sorted({i for i in parser.ids if parser.ids.count(i) > 1}),
        "awaiting_input": "[Awaiting Input" in text,
        "outcome": " ".join(parser.outcome["status"].split()),
        "outcome_reason": " ".join(parser.outcome["reason"].split()),
        "outcome_data": parser.outcome["data"],
        "scripts": parser.scripts,
        "text": text,
    }


def open_report(html_path: str | Path, screenshot_path: str | Path) -> dict[str, Any]:
    """Render the page at html_path in headless Chromium: its screenshot (1400x4000) written to
    screenshot_path, and what the rendered DOM holds (read_dom()), with `screenshot` (the PNG's
    path) and `dom_bytes`. ChromiumError when Chromium is missing, fails, or writes no screenshot."""
    html_path = Path(html_path).resolve()
    screenshot_path = Path(screenshot_path).resolve()
    if not html_path.is_file():
        raise FileNotFoundError(f"no report at {html_path}")
    program = chromium()
    url = html_path.as_uri()
    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile:
        common = [
            program,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            "--window-size=1400,4000",
        ]
        screenshot_path.unlink(missing_ok=True)
        _run([*common, f"--screenshot={screenshot_path}", url], "the screenshot")
        if not screenshot_path.is_file() or screenshot_path.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
            raise ChromiumError(f"Chromium wrote no PNG screenshot to {screenshot_path}")
        dom = _run([*common, "--dump-dom", url], "the DOM dump").stdout
    if "<html" not in dom.lower():
        raise ChromiumError(f"Chromium dumped no DOM for {url}: {dom[:500]!r}")
    observed = read_dom(dom)
    observed.update(screenshot=str(screenshot_path), dom_bytes=len(dom))
    return observed

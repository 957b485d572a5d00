#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Write the release report as one self-contained HTML page."""

from __future__ import annotations

DOCUMENTATION = r"""
module: release_report_html
short_description: Write the release report as one self-contained HTML page
description:
  - Renders the release report's data (the report role's C(report_data)) as one HTML page that needs
    nothing else to be read, no network included, and writes it to O(dest).
  - The page, in order, the outcome (succeeded, rolled back or failed, and why), the release note
    (Markdown) with its values filled in, every SLO gate (status, worst and last value, threshold, in
    milliseconds or percent), a chart of each gate's series over the observation window with its
    threshold, the window's timeline (phases and hosts as bars, the window's opening, deadline and close,
    the observation's start and end) with the requests and failed requests per second under it, the
    backfill totals, the migrations applied, the replay results, the operational checks, the release per
    host, links and sign-offs. A key missing from the data is said to be missing on the page.
  - The charts are inline SVG drawn by matplotlib, their text kept as text; where a series has no value
    the chart shows a band labelled C(no data), and a gate without any value gets a figure saying
    C(no data) and why (for instance C(Prometheus unreachable)) instead of a chart.
  - Every value from the data is escaped; the release note's raw HTML is shown as text.
  - The page is written whole (a file beside it renamed over it) and only when its content or mode
    differs; the same data gives the same page, so a second run changes nothing.
  - Runs where the report is kept, normally on the controller (a task delegated to localhost).
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
requirements:
  - matplotlib
  - markdown-it-py
options:
  data:
    description:
      - The report data, as the report role puts it together (C(report_data)) - C(release),
        C(previous_release), C(date), C(generated_at), C(values), C(validation), C(backfill),
        C(versions), C(links), C(signoffs), C(missing_signoffs), C(timings), and, when known,
        C(outcome) (C(status), C(reason)), C(release_note) (Markdown, placeholders filled),
        C(units) (gate to C(ms) or C(percent)), C(series) (gate to C(points), C(step), C(error)),
        C(traffic) (C(requests), C(failed), C(error)), C(timeline) (C(window), C(observation),
        C(bars)) and C(migrations).
      - Gate values are in seconds or shares as measured; C(units) says how to show them
        (default C(ms) for C(read_p95), C(write_p95), C(subscription_p95) and C(ingest_p95),
        C(percent) for C(error_rate); another gate is shown as measured).
    type: dict
    required: true
  dest:
    description: The HTML file to write. Its directory must exist.
    type: path
    required: true
  mode:
    description: The file's permissions, octal, as a string (V("0640")).
    type: str
    default: "0640"
attributes:
  check_mode:
    support: full
    description: In check mode the page is rendered and compared, and nothing is written.
  diff_mode:
    support: none
    description: No diff is returned; C(changed) says whether the page would be or was rewritten.
  idempotent:
    support: full
    description: The same data gives the same page; a page already there with the same content and mode is left alone.
"""

EXAMPLES = r"""
- name: Write the HTML release report beside the Markdown one
  intelgraph.ops.release_report_html:
    data: "{{ report_data }}"
    dest: "{{ report_dir }}/release-report.html"
    mode: "0640"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
path:
  description: The page's path.
  returned: always
  type: str
  sample: reports/24.1.0/release-report.html
charts:
  description: How many gate figures the page has, one per gate, a gate without data included.
  returned: always
  type: int
  sample: 5
bars:
  description: How many bars the timeline has (phases and hosts).
  returned: always
  type: int
  sample: 15
"""

import os

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.intelgraph.ops.plugins.module_utils._files import parse_mode, put_file, read_bytes
from ansible_collections.intelgraph.ops.plugins.module_utils._report_html import (
    HAS_MARKDOWN_IT,
    HAS_MATPLOTLIB,
    MARKDOWN_IT_IMPORT_ERROR,
    MATPLOTLIB_IMPORT_ERROR,
    render_report,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "data": {"type": "dict", "required": True},
            "dest": {"type": "path", "required": True},
            "mode": {"type": "str", "default": "0640"},
        },
        supports_check_mode=True,
    )
    if not HAS_MATPLOTLIB:
        module.fail_json(msg=missing_required_lib("matplotlib"), exception=MATPLOTLIB_IMPORT_ERROR)
    if not HAS_MARKDOWN_IT:
        module.fail_json(msg=missing_required_lib("markdown-it-py"), exception=MARKDOWN_IT_IMPORT_ERROR)
    dest = module.params["dest"]
    mode = parse_mode(module.params["mode"])
    if mode is None:
        module.fail_json(
            msg=f'mode {module.params["mode"]!r} is not an octal file mode; give one such as "0640".'
        )
    directory = os.path.dirname(dest) or "."
    if not os.path.isdir(directory):
        module.fail_json(
            msg=f"Cannot write the report to {dest}: directory {directory} does not exist. Create it first.",
            path=dest,
        )

    page = render_report(module.params["data"])
    content = page.html.encode("utf-8")
    result = {"changed": False, "path": dest, "charts": page.charts, "bars": page.bars}
    try:
        current = read_bytes(dest)
        same_mode = current is not None and (os.stat(dest).st_mode & 0o7777) == mode
    except OSError as exc:
        module.fail_json(msg=f"Cannot read {dest}: {exc}. Check its permissions.", **result)
    if current == content and same_mode:
        module.exit_json(**result)
    result["changed"] = True
    if not module.check_mode:
        try:
            put_file(dest, content, mode, current)
        except OSError as exc:
            module.fail_json(
                msg=f"Cannot write the report to {dest}: {exc}. Check the directory's permissions.", **result
            )
    module.exit_json(**result)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright (c) IntelGraph SRE
# Apache License 2.0 (see LICENSE)
"""Wait until a container's service is ready, or fail at once naming why it did not start."""

from __future__ import annotations

DOCUMENTATION = r"""
module: container_ready
short_description: Wait until a container serves, and fail at once when it did not start
description:
  - Waits until the service in a container answers HTTP 200 on O(url) and, with O(version), reports that
    version on O(version_url). Meanwhile it inspects the container through the Docker Engine API, and when
    the container is missing, has stopped, or its process exited and the engine restarted it, the
    module fails at once, naming the container, its image, the cause (state, exit code, restarts,
    engine error) and the container's last log lines.
  - Talks to Docker or to any engine with a Docker-compatible API (podman's socket), over a unix socket
    or plain TCP, with the Python standard library only.
  - Changes nothing. Use it after M(community.docker.docker_container) has (re)created the container.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
options:
  name:
    description: Name (or ID) of the container.
    type: str
    required: true
  docker_host:
    description:
      - The engine's API, C(unix:///path/to/socket) or C(tcp://host:port) (without TLS).
    type: str
    default: unix:///var/run/docker.sock
  url:
    description: Readiness URL of the service; it is ready when this answers 200.
    type: str
    required: true
  version_url:
    description:
      - URL answering a JSON object with the key C(version); checked once O(url) answers 200.
      - Required with O(version).
    type: str
  version:
    description: The version the service must report on O(version_url).
    type: str
  timeout:
    description: Seconds to wait for the service to be ready.
    type: int
    default: 60
  validate_certs:
    description: Verify the TLS certificate of an C(https://) O(url) or O(version_url).
    type: bool
    default: true
  ca_path:
    description: CA certificates (PEM) to verify that certificate with, instead of the system's.
    type: path
  delay:
    description: Seconds between two probes.
    type: float
    default: 1.0
  log_lines:
    description: How many of the container's last log lines a failure reports (V(0) for none).
    type: int
    default: 20
attributes:
  check_mode:
    support: full
    description: In check mode the module does not wait and reports no change.
  diff_mode:
    support: none
    description: Nothing is changed, so there is no diff.
  idempotent:
    support: full
    description: It never changes anything.
notes:
  - The engine is asked for the container's state before every probe, so a container whose process
    exits is reported within O(delay) seconds instead of after O(timeout).
seealso:
  - module: community.docker.docker_container
"""

EXAMPLES = r"""
- name: Wait until the API container is ready on 24.1.0
  intelgraph.ops.container_ready:
    name: intelgraph-api
    url: http://127.0.0.1:8080/readyz
    version_url: http://127.0.0.1:8080/version
    version: "24.1.0"
    timeout: 60

- name: Same, through a remote engine's socket
  intelgraph.ops.container_ready:
    name: intelgraph-api
    docker_host: unix:///run/podman/podman.sock
    url: http://10.0.0.21:8080/readyz
  delegate_to: localhost
"""

RETURN = r"""
ready:
  description: Whether the service answered ready (and on the expected version).
  returned: always
  type: bool
elapsed:
  description: Seconds waited.
  returned: always
  type: float
image:
  description: The image the container runs.
  returned: when the container exists
  type: str
  sample: registry.example.com/intelgraph/intelgraph-server:24.1.0
state:
  description: The container's C(State) as the engine reported it last.
  returned: when the container exists
  type: dict
  sample: {"Status": "exited", "ExitCode": 3, "Running": false}
version:
  description: The version the service reported.
  returned: when O(version_url) answered
  type: str
  sample: 24.1.0
cause:
  description: Why the container is not ready.
  returned: on failure
  type: str
  sample: it is exited, exit code 3
logs:
  description: The container's last log lines.
  returned: on failure
  type: list
  elements: str
"""

import json
import time
import urllib.error
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url
from ansible_collections.intelgraph.ops.plugins.module_utils._container import (
    Engine,
    EngineError,
    image_of,
    parse_docker_host,
    readiness,
    start_failure,
    summarise,
    version_matches,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._redact import redact_url


def http_get(
    url: str, timeout: float = 2.0, validate_certs: bool = True, ca_path: str | None = None
) -> tuple[int, Any]:
    """(status, body as JSON when it is JSON) of a GET; status -1 with the error when no answer came."""
    try:
        with open_url(
            url, method="GET", timeout=timeout, validate_certs=validate_certs, ca_path=ca_path
        ) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (OSError, ValueError, UrlsConnectionError) as exc:  # no answer, or a TLS failure
        return -1, str(getattr(exc, "reason", exc))
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", errors="replace")


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "docker_host": {"type": "str", "default": "unix:///var/run/docker.sock"},
            "url": {"type": "str", "required": True},
            "version_url": {"type": "str"},
            "version": {"type": "str"},
            "timeout": {"type": "int", "default": 60},
            "validate_certs": {"type": "bool", "default": True},
            "ca_path": {"type": "path"},
            "delay": {"type": "float", "default": 1.0},
            "log_lines": {"type": "int", "default": 20},
        },
        required_by={"version": "version_url"},
        supports_check_mode=True,
    )
    params = module.params
    name = params["name"]
    if module.check_mode:
        module.exit_json(changed=False, ready=False, elapsed=0.0, msg="check mode: not waited")
    try:
        engine = Engine(parse_docker_host(params["docker_host"]))
    except ValueError as exc:
        module.fail_json(msg=str(exc), ready=False, elapsed=0.0)

    started = time.monotonic()
    restarts_before: int | None = None
    detail = "no probe yet"
    container: dict[str, Any] | None = None

    def fail(msg: str, cause: str, **extra: Any) -> None:
        logs: list[str] = []
        if container is not None:
            try:
                logs = engine.logs(
                    name, params["log_lines"], bool((container.get("Config") or {}).get("Tty"))
                )
            except EngineError:
                logs = []
        tail = f" Its last log lines: {summarise(logs)}." if logs else ""
        module.fail_json(
            msg=msg + tail,
            cause=cause,
            ready=False,
            elapsed=round(time.monotonic() - started, 1),
            logs=logs,
            **extra,
        )

    while True:
        try:
            container = engine.inspect(name)
        except EngineError as exc:
            module.fail_json(msg=f"container {name}: {exc}", ready=False, elapsed=0.0)
        if container is not None and restarts_before is None:
            restarts_before = int(container.get("RestartCount") or 0)
        image = image_of(container) if container else None
        state = (container or {}).get("State") or {}
        cause = start_failure(container, restarts_before or 0)
        if cause:
            fail(
                f"container {name} ({image or 'no image'}) did not start: {cause}.",
                cause,
                image=image,
                state=state,
            )

        status, body = http_get(
            params["url"], validate_certs=params["validate_certs"], ca_path=params["ca_path"]
        )
        ready, detail = readiness(status, body)
        if ready and params["version"]:
            status, body = http_get(
                params["version_url"], validate_certs=params["validate_certs"], ca_path=params["ca_path"]
            )
            ok, reported = version_matches(body, params["version"])
            if ok:
                module.exit_json(
                    changed=False,
                    ready=True,
                    version=reported,
                    image=image,
                    state=state,
                    elapsed=round(time.monotonic() - started, 1),
                )
            ready, detail = (
                False,
                f"ready, but {redact_url(params['version_url'])} reports version {reported}",
            )
        elif ready:
            module.exit_json(
                changed=False,
                ready=True,
                image=image,
                state=state,
                elapsed=round(time.monotonic() - started, 1),
            )

        if time.monotonic() - started >= params["timeout"]:
            fail(
                f"container {name} ({image}) runs but is not ready after {params['timeout']} s: "
                f"{redact_url(params['url'])} answered {detail}.",
                detail,
                image=image,
                state=state,
            )
        time.sleep(params["delay"])


if __name__ == "__main__":
    main()

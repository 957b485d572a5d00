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
  - Talks to Docker or to any engine with a Docker-compatible API (podman's socket) through community.docker's
    API client, so it reaches every engine community.docker's modules reach (O(docker_host) as a unix socket,
    C(tcp://), C(ssh://)), with the same TLS options and E(DOCKER_*) environment variables.
  - Changes nothing. Use it after M(community.docker.docker_container) has (re)created the container.
version_added: 1.0.0
author: IntelGraph SRE (@intelgraph)
extends_documentation_fragment:
  - community.docker.docker.api_documentation
options:
  name:
    description: Name (or ID) of the container.
    type: str
    required: true
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
  wait_timeout:
    description:
      - Seconds to wait for the service to be ready.
      - O(timeout) is the timeout of each request to the engine's API.
    type: int
    default: 60
  url_validate_certs:
    description:
      - Verify the TLS certificate of an C(https://) O(url) or O(version_url).
      - O(validate_certs) is about the engine's API, not the service.
    type: bool
    default: true
  url_ca_path:
    description:
      - CA certificates (PEM) to verify the certificate of O(url) and O(version_url) with, instead of the system's.
      - O(ca_path) is about the engine's API, not the service.
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
    description: In check mode the module connects to the engine but does not wait, and reports no change.
  diff_mode:
    support: none
    description: Nothing is changed, so there is no diff.
  idempotent:
    support: full
    description: It never changes anything.
requirements:
  - Docker API >= 1.25
  - requests (Python library, on the host the module runs on)
notes:
  - The engine is asked for the container's state before every probe, so a container whose process
    exits is reported within O(delay) seconds instead of after O(wait_timeout).
  - With O(validate_certs), the engine's certificate is verified against the file in E(REQUESTS_CA_BUNDLE) or
    E(CURL_CA_BUNDLE) instead of O(ca_path) when either is set in the module's environment (a behaviour of
    the requests library the client is built on, as for community.docker's modules).
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
    wait_timeout: 60

- name: Same, through a remote engine's socket
  intelgraph.ops.container_ready:
    name: intelgraph-api
    docker_host: unix:///run/podman/podman.sock
    url: http://10.0.0.21:8080/readyz
  delegate_to: localhost

- name: Same, through an engine that requires TLS, probing an HTTPS service signed by an internal CA
  intelgraph.ops.container_ready:
    name: intelgraph-api
    docker_host: tcp://engine.example.com:2376
    validate_certs: true
    ca_path: /etc/docker/certs/ca.pem
    client_cert: /etc/docker/certs/cert.pem
    client_key: /etc/docker/certs/key.pem
    url: https://api1.example.com:8443/readyz
    url_ca_path: /etc/pki/intelgraph/ca.pem
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
import traceback
import urllib.error
from typing import Any

from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.urls import ConnectionError as UrlsConnectionError
from ansible.module_utils.urls import open_url
from ansible_collections.community.docker.plugins.module_utils._api.errors import DockerException
from ansible_collections.community.docker.plugins.module_utils.common_api import (
    AnsibleDockerClient,
    RequestException,
)
from ansible_collections.intelgraph.ops.plugins.module_utils._container import (
    image_of,
    log_lines,
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


def container_logs(client: AnsibleDockerClient, container: dict[str, Any], lines: int) -> list[str]:
    """The last ``lines`` lines the container wrote to stdout and stderr (the client separates a
    multiplexed stream, and reads a TTY container's as it is); none when the engine gives none."""
    if lines <= 0:
        return []
    try:
        response = client._get(
            client._url("/containers/{0}/logs", container["Id"]),
            params={"stdout": 1, "stderr": 1, "timestamps": 0, "tail": lines},
        )
        data = client._get_result_tty(False, response, bool((container.get("Config") or {}).get("Tty")))
    except (DockerException, RequestException):
        return []
    return log_lines(data, lines)


def wait(client: AnsibleDockerClient) -> None:
    """Probe until the service is ready (exit) or the container is found not to run (fail)."""
    params = client.module.params
    name = params["name"]
    started = time.monotonic()
    restarts_before: int | None = None
    detail = "no probe yet"

    def elapsed() -> float:
        return round(time.monotonic() - started, 1)

    def fail(msg: str, cause: str, container: dict[str, Any] | None, **extra: Any) -> None:
        logs = container_logs(client, container, params["log_lines"]) if container else []
        tail = f" Its last log lines: {summarise(logs)}." if logs else ""
        client.fail(msg + tail, cause=cause, elapsed=elapsed(), logs=logs, **extra)

    def succeed(**extra: Any) -> None:
        client.module.exit_json(changed=False, ready=True, elapsed=elapsed(), **extra)

    while True:
        # get_container ends the run through client.fail when the engine cannot answer.
        client.fail_results["elapsed"] = elapsed()
        container = client.get_container(name)
        if container is not None and restarts_before is None:
            restarts_before = int(container.get("RestartCount") or 0)
        image = image_of(container) if container else None
        state = (container or {}).get("State") or {}
        cause = start_failure(container, restarts_before or 0)
        if cause:
            fail(
                f"container {name} ({image or 'no image'}) did not start: {cause}.",
                cause,
                container,
                image=image,
                state=state,
            )

        probe = {"validate_certs": params["url_validate_certs"], "ca_path": params["url_ca_path"]}
        status, body = http_get(params["url"], **probe)
        ready, detail = readiness(status, body)
        if ready and params["version"]:
            status, body = http_get(params["version_url"], **probe)
            ok, reported = version_matches(body, params["version"])
            if ok:
                succeed(version=reported, image=image, state=state)
            ready, detail = (
                False,
                f"ready, but {redact_url(params['version_url'])} reports version {reported}",
            )
        elif ready:
            succeed(image=image, state=state)

        if time.monotonic() - started >= params["wait_timeout"]:
            fail(
                f"container {name} ({image}) runs but is not ready after {params['wait_timeout']} s: "
                f"{redact_url(params['url'])} answered {detail}.",
                detail,
                container,
                image=image,
                state=state,
            )
        time.sleep(params["delay"])


def main() -> None:
    # The engine options (docker_host, tls, validate_certs, ca_path, timeout, ...) are
    # community.docker's, merged in by the client, which connects before the module goes on.
    client = AnsibleDockerClient(
        argument_spec={
            "name": {"type": "str", "required": True},
            "url": {"type": "str", "required": True},
            "version_url": {"type": "str"},
            "version": {"type": "str"},
            "wait_timeout": {"type": "int", "default": 60},
            "url_validate_certs": {"type": "bool", "default": True},
            "url_ca_path": {"type": "path"},
            "delay": {"type": "float", "default": 1.0},
            "log_lines": {"type": "int", "default": 20},
        },
        required_by={"version": "version_url"},
        supports_check_mode=True,
        fail_results={"ready": False, "elapsed": 0.0},
    )
    if client.module.check_mode:
        client.module.exit_json(changed=False, ready=False, elapsed=0.0, msg="check mode: not waited")
    name = client.module.params["name"]
    try:
        wait(client)
    except DockerException as exc:
        client.fail(
            f"container {name}: an unexpected Docker error occurred: {to_native(exc)}",
            exception=traceback.format_exc(),
        )
    except RequestException as exc:
        client.fail(
            f"container {name}: an unexpected requests error occurred when talking to the engine: "
            f"{to_native(exc)}",
            exception=traceback.format_exc(),
        )


if __name__ == "__main__":
    main()

"""intelgraph.ops.service_info against the stand-in service as the pre-check and the restore point
ask it: the API and the ingest worker of 24.0.0 run from their release, laid out as on a host
(a release directory and its `current` link, the settings and secrets files), and the module
run as Ansible runs it (a JSON file of arguments). It reads the release each reports, the link
and the files; a service stopped is no failure, its status is -1."""

from __future__ import annotations

import hashlib
import json
import signal
import sys
from pathlib import Path

import pytest
from sandbox_it_support import MISSING, ROOT, Services, free_port, http_get, wait_until

sys.path.insert(0, str(ROOT / "tests/support"))

from module_run import run_module

if MISSING is not None:
    raise pytest.UsageError(f"the integration tests {MISSING}: run 'make deps' (sandbox/setup-host.sh) first")

# What the module is asked for, on each service's port.
SERVICES = {
    "api": ("bin/intelgraph-api", "INTELGRAPH_LISTEN"),
    "ingest": ("bin/intelgraph-ingest", "INGEST_METRICS_LISTEN"),
}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_the_stand_in_service_read_in_one_run(services: Services, tmp_path: Path, service: str) -> None:
    root = tmp_path / "opt/intelgraph"
    root.mkdir(parents=True)
    (root / "current").symlink_to(services.releases["24.0.0"])
    config = tmp_path / "etc/intelgraph"
    config.mkdir(parents=True)
    settings = config / f"{service}.env"
    settings.write_text("RPS_LIMIT=50\nRPS_BURST=100\n")
    secrets = config / "secrets.env"
    secrets.write_text(f"REDIS_URL={services.redis_url}\nDATABASE_URL={services.database_url}\n")
    secrets.chmod(0o640)

    binary, listen = SERVICES[service]
    port = free_port()
    process = services.processes.start(
        f"service-info-{service}",
        [services.python, str(root / "current" / binary)],
        services.env(**{listen: f"127.0.0.1:{port}", "INGEST_CONSUMER": f"service-info-{service}"}),
        cwd=root / "current",
    )
    wait_until(lambda: http_get(port, "/healthz")[0] == 200, 15, f"{service} healthz")
    args = {
        "url": f"http://127.0.0.1:{port}/version",
        "timeout": 5,
        "link": str(root / "current"),
        "files": [{"path": str(settings), "checksum": True}, {"path": str(secrets)}],
        "settings_file": str(settings),
    }

    result = run_module("service_info", args, tmp_path)
    assert result["_rc"] == 0 and not result.get("failed"), result
    assert result["service"]["status"] == 200 and result["service"]["version"] == "24.0.0"
    assert result["service"]["msg"].startswith("OK (")
    assert result["link"] == {
        "path": str(root / "current"),
        "exists": True,
        "target": str(services.releases["24.0.0"]),
    }
    assert result["files"][str(settings)]["checksum"] == hashlib.sha256(settings.read_bytes()).hexdigest()
    assert result["files"][str(secrets)]["mode"] == "0640"
    assert result["settings"]["content"] == settings.read_text()
    # The secrets file was only stat'ed: neither its passwords nor its digest are in the result.
    assert services.redis_url not in json.dumps(result) and services.database_url not in json.dumps(result)
    assert hashlib.sha256(secrets.read_bytes()).hexdigest() not in json.dumps(result)

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    stopped = run_module("service_info", args, tmp_path)
    assert stopped["_rc"] == 0 and not stopped.get("failed"), stopped
    assert stopped["service"]["status"] == -1 and stopped["service"]["version"] is None
    assert "Connection refused" in stopped["service"]["msg"]

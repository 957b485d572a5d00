"""The release workflow of awx/ run as AWX runs it, for the end-to-end tests.

AWX itself (a Kubernetes operator, a web service, a database) does not run on the sandbox; what
it does with this project does, and that is what the tests drive: the workflow's nodes, their
success and failure edges and its approval nodes, read from `awx/settings.yml`, the file
`awx/configure.yml` applies. Each job runs through `ansible_runner.run_async()` as an AWX job
does: in a fresh copy of the checkout (the project sync) under a host name of its own (its
container), with a private data directory of its own, and the job template's playbook, extra
variables and credentials. Between jobs passes only what AWX passes: the workflow's extra
variables (its survey answers), the `awx_*` variables of the job, and the `set_stats` artifacts
of the jobs before it. The approval nodes are approved or denied by the test, and the approvals
are served, as AWX's API serves them (`/api/v2/workflow_approvals/`), to the job whose template
carries the controller credential (the close job reads them with awx.awx.controller_api).
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import json
import os
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner
import jinja2
import yaml
from process_tree import kill_tree

from sandbox import BIN, ROOT, Controller, Fleet, PlaybookRun

SETTINGS = ROOT / "awx/settings.yml"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
APPROVER = {"Release Captain sign-off": "release-captain", "On-call SRE sign-off": "oncall-sre"}


def load_settings() -> dict[str, Any]:
    """awx/settings.yml with its own variables rendered, as configure.yml sees it."""
    raw = yaml.safe_load(SETTINGS.read_text())
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)

    def render(value: Any) -> Any:
        if isinstance(value, str) and "{{" in value:
            return env.from_string(value).render(**raw)
        if isinstance(value, list):
            return [render(v) for v in value]
        if isinstance(value, dict):
            return {k: render(v) for k, v in value.items()}
        return value

    return render(raw)


@dataclass
class Job:
    """One job of a workflow: its node, the controller it ran on, what it printed and handed on."""

    node: str
    id: int
    template: str
    controller: Controller
    extra_vars: dict[str, Any]
    status: str = "pending"  # successful, failed, canceled
    run: PlaybookRun | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    artifacts: dict[str, Any] = field(default_factory=dict)

    def plays(self) -> set[str]:
        return {e["event_data"].get("play") for e in self.events if e["event"] == "playbook_on_play_start"}

    def tasks(self) -> set[str]:
        return {e["event_data"].get("task") for e in self.events if e["event"] == "playbook_on_task_start"}

    def ran(self, task: str) -> list[str]:
        """The hosts a task (its name, or the start of it) ran on, not skipped: one per run of it."""
        return [
            e["event_data"].get("host")
            for e in self.events
            if e["event"] == "runner_on_ok" and (e["event_data"].get("task") or "").startswith(task)
        ]

    def failures(self) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events
            if e["event"] == "runner_on_failed" and not e["event_data"].get("ignore_errors")
        ]


@dataclass
class WorkflowJob:
    """A launched workflow: its id, the nodes in the order they ran, and how it ended."""

    id: int
    extra_vars: dict[str, Any]
    nodes: list[tuple[str, str]] = field(default_factory=list)  # (identifier, status)
    jobs: dict[str, Job] = field(default_factory=dict)
    approvals: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"

    def job(self, node: str) -> Job:
        return self.jobs[node]


class AWX:
    """The workflow of awx/settings.yml against a fleet, each job as AWX would run it. Jobs and
    their projects live under `workdir`; `kill()` stops the job running now, with every process
    of it, as when its container is lost, and ends the workflow there (canceled)."""

    def __init__(self, fleet: Fleet, workdir: Path) -> None:
        self.fleet = fleet
        self.workdir = workdir
        self.settings = load_settings()
        self.templates = {t["name"]: t for t in self.settings["awx_job_templates"]}
        self.nodes = {n["identifier"]: n for n in self.settings["awx_workflow_nodes"]}
        self.ids = itertools.count(int(time.time()) % 100000 * 10)
        self.approvals: dict[int, list[dict[str, Any]]] = {}
        self.token = f"e2e-{os.getpid()}-{time.time_ns()}"
        self._kill = threading.Event()

    # --- the controller's API, for the close job -------------------------------------------

    @contextlib.contextmanager
    def api(self) -> Iterator[str]:
        """AWX's `/api/v2/workflow_approvals/` for the workflow jobs launched here, on loopback."""
        approvals, token = self.approvals, self.token

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                if self.headers.get("Authorization") != f"Bearer {token}":
                    return self.reply(401, {"detail": "Authentication credentials were not provided."})
                if url.path.rstrip("/") != "/api/v2/workflow_approvals":
                    return self.reply(404, {"detail": "Not found."})
                workflow = int(query.get("unified_job_node__workflow_job", ["0"])[0])
                results = approvals.get(workflow, [])
                return self.reply(
                    200, {"count": len(results), "next": None, "previous": None, "results": results}
                )

            def reply(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-API-Product-Name", "AWX")
                self.send_header("X-API-Product-Version", "24.6.1")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()

    # --- the workflow ------------------------------------------------------------------------

    def survey(self, answers: dict[str, Any]) -> dict[str, Any]:
        """The survey's answers as AWX takes them: defaults for what is not answered, and an
        answer outside the question's choices or bounds refused at launch."""
        extra: dict[str, Any] = {}
        spec = self.settings["awx_release_survey"]["spec"]
        known = {q["variable"] for q in spec}
        assert set(answers) <= known, f"no survey question for {sorted(set(answers) - known)}"
        for question in spec:
            var = question["variable"]
            if var not in answers and "default" not in question:
                assert not question.get("required"), f"the survey requires {var}"
                continue
            value = answers.get(var, question.get("default"))
            if question["type"] == "integer":
                assert isinstance(value, int) and question.get("min", value) <= value <= question.get(
                    "max", value
                )
            if question["type"] == "multiplechoice":
                assert value in question["choices"], f"{var}: {value!r} is not one of {question['choices']}"
            if question["type"] == "text":
                assert question.get("min", 0) <= len(str(value)) <= question.get("max", 1024), (var, value)
            extra[var] = value
        return extra

    def launch(
        self,
        answers: dict[str, Any] | None = None,
        approve: Callable[[str], bool] = lambda node: True,
        template_vars: dict[str, dict[str, Any]] | None = None,
        watch: Callable[[str, Job], None] | None = None,
    ) -> WorkflowJob:
        """Run the workflow to its end: its survey answered with `answers`, each approval node
        approved or denied by `approve(its name)`. `template_vars` adds to a job template's
        extra variables (by template name), as its settings would in AWX. `watch(node, job)` is
        called in a thread of its own while each job runs (e.g. to kill() it at some point)."""
        workflow = WorkflowJob(next(self.ids), self.survey(answers or {}))
        self.approvals[workflow.id] = workflow.approvals
        children = {
            c["identifier"]
            for n in self.nodes.values()
            for edges in n.get("related", {}).values()
            for c in edges
        }
        queue = [n for n in self.nodes if n not in children]
        artifacts: dict[str, dict[str, Any]] = {root: {} for root in queue}
        failed_unhandled = False
        with self.api() as url:
            while queue:
                identifier = queue.pop(0)
                node = self.nodes[identifier]
                template = node["unified_job_template"]
                inherited = artifacts[identifier]
                if template.get("type") == "workflow_approval":
                    approved = approve(template["name"])
                    workflow.approvals.append(self.approval(workflow, template["name"], approved))
                    status = "successful" if approved else "failed"
                else:
                    job = self.run_job(
                        workflow, identifier, template["name"], inherited, url, template_vars or {}, watch
                    )
                    workflow.jobs[identifier] = job
                    status = job.status
                    inherited = {**inherited, **job.artifacts}
                workflow.nodes.append((identifier, status))
                if status == "canceled":
                    workflow.status = "canceled"
                    return workflow
                edge = "success_nodes" if status == "successful" else "failure_nodes"
                nxt = [c["identifier"] for c in node.get("related", {}).get(edge, [])]
                if status != "successful" and not nxt:
                    failed_unhandled = True
                for child in nxt:
                    artifacts[child] = inherited
                    queue.append(child)
        workflow.status = "failed" if failed_unhandled else "successful"
        return workflow

    def approval(self, workflow: WorkflowJob, name: str, approved: bool) -> dict[str, Any]:
        """A workflow_approvals record as AWX's API returns it once the node is decided."""
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        return {
            "id": next(self.ids),
            "type": "workflow_approval",
            "name": name,
            "status": "successful" if approved else "failed",
            "finished": now,
            "summary_fields": {
                "approved_or_denied_by": {"id": 1, "username": APPROVER.get(name, "admin")},
                "source_workflow_job": {"id": workflow.id},
            },
        }

    def run_job(
        self,
        workflow: WorkflowJob,
        node: str,
        template_name: str,
        artifacts: dict[str, Any],
        api_url: str,
        template_vars: dict[str, dict[str, Any]],
        watch: Callable[[str, Job], None] | None,
    ) -> Job:
        template = self.templates[template_name]
        job_id = next(self.ids)
        base = self.workdir / f"job-{job_id}"
        controller = Controller.copy(base / "project", f"awx-job-{job_id}")
        extra = {
            **template.get("extra_vars", {}),
            **template_vars.get(template_name, {}),
            **artifacts,
            **workflow.extra_vars,
            "awx_job_id": job_id,
            "awx_job_template_name": template_name,
            "awx_workflow_job_id": workflow.id,
            "awx_workflow_job_name": self.settings["awx_workflow"]["name"],
            "awx_user_name": "admin",
        }
        job = Job(node, job_id, template_name, controller, extra)
        private = base / "private"
        private.mkdir(parents=True)
        # The job's container: its own host name, the project's ansible.cfg (the working directory's),
        # and the pid of its ansible-playbook where kill() finds it. ansible-runner finds this
        # ansible-playbook first on the job's PATH.
        wrapper = private / "bin" / "ansible-playbook"
        wrapper.parent.mkdir()
        wrapper.write_text(
            "#!/bin/sh\n"
            f'echo $$ > "{private}/ansible-playbook.pid"\n'
            "exec env -u ANSIBLE_CONFIG -u INTELGRAPH_TIMINGS_FILE unshare --uts "
            f'sh -c \'hostname "$0" && exec "$@"\' {controller.name} {BIN}/ansible-playbook "$@"\n'
        )
        wrapper.chmod(0o700)
        env = self.fleet.env(controller)
        envvars = {k: env[k] for k in ("INTELGRAPH_SANDBOX_ID", "INTELGRAPH_SANDBOX_ROOT")}
        envvars["PATH"] = f"{wrapper.parent}{os.pathsep}{env['PATH']}"
        if self.settings["awx_controller_credential"] in template.get("credentials", []):
            # What a credential of type "Red Hat Ansible Automation Platform" puts in the job's environment.
            envvars.update(
                CONTROLLER_HOST=api_url, CONTROLLER_OAUTH_TOKEN=self.token, CONTROLLER_VERIFY_SSL="False"
            )
        thread, runner = ansible_runner.run_async(
            private_data_dir=str(private),
            project_dir=str(controller.root),
            playbook=template["playbook"],
            inventory=str(controller.inventory(self.fleet)),
            extravars=extra,
            envvars=envvars,
            quiet=True,
            timeout=1500,
        )
        self._kill.clear()
        if watch is not None:
            threading.Thread(target=watch, args=(node, job), daemon=True).start()
        while thread.is_alive():
            if self._kill.is_set():
                self.kill_job(private / "ansible-playbook.pid")
                break
            thread.join(0.2)
        thread.join()
        stdout = runner.stdout.read()
        log = self.fleet.logs / f"{time.strftime('%H%M%S')}-awx-{workflow.id}-{node}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(
            f"workflow {workflow.id}, job {job_id} ({template_name}) on {controller.name}\n\n{stdout}"
        )
        job.run = PlaybookRun(["awx", template["playbook"]], runner.rc, ANSI.sub("", stdout), log)
        job.events = list(runner.events)
        for event in job.events:
            if event["event"] == "playbook_on_stats":
                job.artifacts.update(event["event_data"].get("artifact_data") or {})
        job.status = (
            "canceled"
            if self._kill.is_set()
            else ("successful" if runner.status == "successful" else "failed")
        )
        return job

    def kill(self) -> None:
        """Lose the job running now, and its workflow, as when AWX's node goes down: every
        process of the job is killed at once; no later node runs."""
        self._kill.set()

    @staticmethod
    def kill_job(pidfile: Path) -> None:
        deadline = time.monotonic() + 30
        while not pidfile.exists():
            assert time.monotonic() < deadline, "the job's ansible-playbook never started"
            time.sleep(0.1)
        pid = int(pidfile.read_text())
        kill_tree(pid)

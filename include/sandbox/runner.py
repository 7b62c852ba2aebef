"""The whole sandbox in one object: the Salesforce emulator (TLS), the Graph emulator (http), and the
Entra-style token endpoint (TLS), sharing one clock, one fault plan and one admin API.

Tests use ``Sandbox().start()`` in-process; ``calsync sandbox up`` runs the same object in a
background process (``python -m sandbox``).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.clock import Clock
from sandbox.credentials import DEMO, DemoCredentials
from sandbox.faults import FaultPlan
from sandbox.http import ADMIN_PREFIX, App, Request, Response, ServerThread
from sandbox.tls import make_tls


@dataclass
class Hub:
    """What every emulator shares."""

    clock: Clock = field(default_factory=Clock)
    faults: FaultPlan = field(default_factory=FaultPlan)
    credentials: DemoCredentials = DEMO
    # Filled in by Sandbox once the servers are bound, so responses can name their own URLs.
    urls: dict[str, str] = field(default_factory=dict)
    apps: dict[str, Any] = field(default_factory=dict)


class Sandbox:
    def __init__(self, data_dir: str | Path | None = None, seed: int = 0, salesforce_port: int = 0,
                 graph_port: int = 0, identity_port: int = 0) -> None:
        # Imported here so that a broken emulator module fails at start, with its own traceback.
        from sandbox.graph.routes import GraphApp
        from sandbox.identity import IdentityApp
        from sandbox.salesforce.routes import SalesforceApp

        self.data_dir = Path(data_dir) if data_dir else None
        self._tmp = None if self.data_dir else tempfile.TemporaryDirectory(prefix="calsync-sandbox-")
        self.work_dir = self.data_dir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.hub = Hub(faults=FaultPlan(seed))
        self.tls = make_tls(self.work_dir / "tls")
        self.salesforce = SalesforceApp(self.hub)
        self.graph = GraphApp(self.hub)
        self.identity = IdentityApp(self.hub)
        self.hub.apps.update(salesforce=self.salesforce, graph=self.graph, identity=self.identity)
        for app in (self.salesforce, self.graph, self.identity):
            add_admin_routes(app, self)
        self._servers = [
            ServerThread(self.salesforce, salesforce_port, self.tls.server_context),
            ServerThread(self.graph, graph_port, None),
            ServerThread(self.identity, identity_port, self.tls.server_context),
        ]
        self.hub.urls.update(salesforce=self._servers[0].url, graph=self._servers[1].url,
                             identity=self._servers[2].url)
        self._started = False

    # lifecycle -----------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        if self.data_dir and (self.data_dir / "snapshot.json").exists():
            self.restore(json.loads((self.data_dir / "snapshot.json").read_text()))
        for s in self._servers:
            s.start()
        self._started = True
        return self

    def stop(self) -> None:
        if not self._started:
            return
        for s in self._servers:
            s.stop()
        self._started = False
        if self.data_dir:
            self.save()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # addresses -------------------------------------------------------------------------------
    @property
    def salesforce_url(self) -> str:
        return self.hub.urls["salesforce"]

    @property
    def graph_url(self) -> str:
        return self.hub.urls["graph"]

    @property
    def identity_url(self) -> str:
        return self.hub.urls["identity"]

    @property
    def ca_bundle(self) -> str:
        return str(self.tls.ca_path)

    def env(self) -> dict[str, str]:
        """The environment that points Airflow's hooks and calsync at this sandbox."""
        from sandbox.connections import sandbox_env

        return sandbox_env(self)

    # state -----------------------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        self.hub.clock.reset()
        self.hub.faults.reset(seed)
        for app in (self.salesforce, self.graph, self.identity):
            app.reset_counters()
            reset = getattr(app, "reset", None)
            if reset:
                reset()

    def seed_demo(self, records_per_object: int = 200, seed: int = 0) -> dict[str, Any]:
        from sandbox.seed import seed_demo

        return seed_demo(self, records_per_object=records_per_object, seed=seed)

    def snapshot(self) -> dict[str, Any]:
        return {"salesforce": self.salesforce.snapshot(), "graph": self.graph.snapshot(),
                "clock": self.hub.clock.describe()}

    def restore(self, snap: dict[str, Any]) -> None:
        self.salesforce.restore(snap["salesforce"])
        self.graph.restore(snap["graph"])

    def save(self) -> None:
        assert self.data_dir is not None
        path = self.data_dir / "snapshot.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.snapshot(), default=str))
        tmp.replace(path)

    def counters(self) -> dict[str, Any]:
        return {name: {"routes": dict(app.counters), "mailboxes": dict(app.mailbox_counters)}
                for name, app in (("salesforce", self.salesforce), ("graph", self.graph),
                                  ("identity", self.identity))}


def add_admin_routes(app: App, sb: Sandbox) -> None:
    """The admin API shared by every server of the sandbox, under one prefix no real API uses."""
    p = ADMIN_PREFIX

    def reset(req: Request) -> Response:
        body = req.json() or {}
        sb.reset(body.get("seed"))
        return Response.json({"reset": True})

    def seed(req: Request) -> Response:
        body = req.json() or {}
        return Response.json(sb.seed_demo(int(body.get("records_per_object", 200)), int(body.get("seed", 0))))

    def snapshot(req: Request) -> Response:
        if req.method == "POST":
            sb.restore(req.json())
            return Response.json({"restored": True})
        return Response.json(sb.snapshot())

    def clock(req: Request) -> Response:
        from datetime import datetime

        if req.method == "POST":
            body = req.json() or {}
            if "now" in body:
                sb.hub.clock.set(datetime.fromisoformat(body["now"]), bool(body.get("frozen", False)))
            if "advance_seconds" in body:
                sb.hub.clock.advance(float(body["advance_seconds"]))
            if body.get("real"):
                sb.hub.clock.reset()
        return Response.json(sb.hub.clock.describe())

    def counters(req: Request) -> Response:
        if req.method == "DELETE":
            for a in (sb.salesforce, sb.graph, sb.identity):
                a.reset_counters()
        return Response.json(sb.counters())

    def faults(req: Request) -> Response:
        if req.method == "POST":
            try:
                return Response.json(sb.hub.faults.configure(req.json() or {}))
            except (TypeError, ValueError) as e:
                return Response.json({"error": str(e)}, 400)
        if req.method == "DELETE":
            sb.hub.faults.reset()
        return Response.json(sb.hub.faults.describe())

    def info(req: Request) -> Response:
        return Response.json({"urls": dict(sb.hub.urls), "ca_bundle": sb.ca_bundle})

    app.router.add("POST", f"{p}/reset", reset, "admin.reset")
    app.router.add("POST", f"{p}/seed", seed, "admin.seed")
    app.router.add("GET|POST", f"{p}/snapshot", snapshot, "admin.snapshot")
    app.router.add("GET|POST", f"{p}/clock", clock, "admin.clock")
    app.router.add("GET|DELETE", f"{p}/counters", counters, "admin.counters")
    app.router.add("GET|POST|DELETE", f"{p}/faults", faults, "admin.faults")
    app.router.add("GET", f"{p}/info", info, "admin.info")

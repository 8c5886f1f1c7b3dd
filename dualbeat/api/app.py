"""The HTTP routes: what a load balancer, a proxy, Prometheus and an operator ask the agent.

Why FastAPI: it is maintained, runs on asyncio (the agent's loop), validates query
strings and bodies into 422 answers with the offending field named, and publishes an
OpenAPI spec (``/openapi.json``) generated from the same models the routes use, which the
contract tests (schemathesis) check the routes against.

Every route is ``async``: FastAPI runs it on the agent's loop, where the agent's state is
written, so it reads a consistent view without locks (a plain ``def`` would run in a
worker thread, racing the loop). Only the token check, which reads a file, is a plain
function and runs in a thread.

Health checks answer 200 or 503 with a small JSON body saying why, as Patroni's
``/primary`` and ``/replica`` do: HAProxy's ``option httpchk`` only needs the status code,
an operator's ``curl`` gets the reason.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from dualbeat import __version__
from dualbeat.agent.control import ControlAnswer
from dualbeat.agent.status import AgentStatus
from dualbeat.api.metrics import AgentMetrics
from dualbeat.api.port import Controlled, LoopAgent
from dualbeat.config import Api
from dualbeat.core.roles import Health, Role
from dualbeat.errors import DualbeatError
from dualbeat.ops import handover
from dualbeat.ops import maintenance as maintenance_ops
from dualbeat.ops import switchover as switchover_ops
from dualbeat.ops.outcome import http_status
from dualbeat.ops.switchover import Checks
from dualbeat.repl.switchover import preflight


class Check(BaseModel):
    """A health check's answer: ``ok`` is what the status code says, ``reason`` why."""

    ok: bool
    node: str
    role: str
    reason: str


class Problem(BaseModel):
    detail: str


class Reason(BaseModel):
    code: str
    text: str


class ActionResult(BaseModel):
    """The agent's answer to an accepted action (the same as ``dualbeat`` prints)."""

    model_config = ConfigDict(extra="allow")
    ok: bool
    finding: str | None = None
    role: str | None = None
    reasons: list[Reason] = []


class Maintenance(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # "yes" is not a boolean
    on: bool
    timeout: float = Field(
        10.0, ge=0, le=60, description="Seconds to wait for the peer to confirm it follows."
    )


class History(BaseModel):
    events: list[dict[str, Any]]


_BEARER = HTTPBearer(auto_error=False)
_CHECK: dict[int | str, dict[str, Any]] = {
    503: {"model": Check, "description": "the check fails; `reason` says why"}
}
_ACTION: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "the body is not JSON, or the agent did not take it"},
    401: {"model": Problem, "description": "no bearer token"},
    403: {"model": Problem, "description": "wrong token, or actions disabled (no token_file)"},
    409: {"model": Problem, "description": "the agent refused; `detail` says why"},
    503: {"model": Problem, "description": "the agent cannot do this now, or did not answer"},
}


def build_app(
    agent: Controlled, metrics: AgentMetrics | None = None, *, checks: Checks = preflight
) -> FastAPI:
    """The application for ``agent``; ``metrics`` adds ``/metrics``; ``checks`` are the
    switchover's pre-checks (both servers over SQL; a test gives fakes)."""
    settings = agent.config.api or Api()
    app = FastAPI(
        title="dualbeat agent",
        version=__version__,
        description="Health checks, status, history and actions of one dualbeat node.",
        docs_url=None,
        redoc_url=None,
    )
    ask = _asker(agent, settings)
    app.add_exception_handler(StarletteHTTPException, _allow_every_method)
    _health_routes(app, agent)
    _status_routes(app, agent, ask, metrics)
    _action_routes(app, agent, settings, checks)
    page = resources.files("dualbeat.api").joinpath("static/index.html").read_text()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        """The live page: both nodes, the VIP, replication and the event timeline."""
        return HTMLResponse(page)

    return app


Ask = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


def _asker(agent: Controlled, settings: Api) -> Ask:
    async def ask(request: dict[str, Any]) -> dict[str, Any]:
        """The agent's answer, or 503 when it does not come within ``action_timeout``.
        Shielded: an abandoned HTTP request must not cancel a command the agent took."""
        task = asyncio.ensure_future(agent._answer(request))
        try:
            return await asyncio.wait_for(asyncio.shield(task), settings.action_timeout)
        except TimeoutError:
            raise HTTPException(
                503, f"the agent did not answer within {settings.action_timeout:g} s"
            ) from None

    return ask


def _health_routes(app: FastAPI, agent: Controlled) -> None:
    def check(ok: bool, status: AgentStatus, reason: str) -> JSONResponse:
        body = Check(ok=ok, node=agent.node, role=status.role.value, reason=reason)
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503)

    @app.get("/active", response_model=Check, responses=_CHECK, tags=["health"])
    async def active() -> JSONResponse:
        """200 only on the writable node holding the VIP: where writes must go."""
        s = agent.status()
        vip_ok = s.vip.address is None or s.vip.held
        if not s.active:
            return check(False, s, f"role is {s.role.value}")
        if s.promoting:
            return check(False, s, "promotion in progress")
        if not s.mysql.writable or not vip_ok:
            return check(False, s, "active but not yet writable with the VIP")
        return check(True, s, "active: writable and holding the VIP")

    @app.get("/standby", response_model=Check, responses=_CHECK, tags=["health"])
    async def standby(
        max_lag: Annotated[
            float | None,
            Query(ge=0, description="Seconds of lag allowed (default [replication].max_lag)."),
        ] = None,
    ) -> JSONResponse:
        """200 on a healthy standby that replicates and lags at most ``max_lag`` seconds."""
        s = agent.status()
        limit = agent.config.replication.max_lag if max_lag is None else max_lag
        m = s.mysql
        if s.role is not Role.STANDBY:
            return check(False, s, f"role is {s.role.value}")
        if m.health is not Health.HEALTHY:
            return check(False, s, f"local MySQL is {m.health.value}")
        if not m.replicating:
            return check(False, s, "not replicating")
        if m.lag_s is None or m.lag_s > limit:
            return check(False, s, f"lag {_number(m.lag_s)} s exceeds {limit:g} s")
        return check(True, s, f"standby, replicating, lag {_number(m.lag_s)} s")

    @app.get("/health", response_model=Check, responses=_CHECK, tags=["health"])
    async def health() -> JSONResponse:
        """200 when the agent runs and its local MySQL is healthy, whatever the role."""
        s = agent.status()
        ok = s.mysql.health is Health.HEALTHY
        return check(ok, s, f"local MySQL is {s.mysql.health.value}")


def _number(value: float | None) -> str:
    """A lag as the agent reported it: ``12`` stays ``12`` (not ``12.0``)."""
    return "None" if value is None else f"{value:g}"


def _status_routes(app: FastAPI, agent: Controlled, ask: Ask, metrics: AgentMetrics | None) -> None:
    @app.get("/status", response_model=AgentStatus, tags=["status"])
    async def status() -> dict[str, Any]:
        """Both nodes as this node sees them (the same JSON as ``dualbeat status --json``)."""
        return agent.status().to_json()

    @app.get("/history", response_model=History, responses={503: {"model": Problem}})
    async def history(
        since: Annotated[float | None, Query(ge=0, description="Unix time; newer only.")] = None,
        limit: Annotated[int | None, Query(ge=1, le=100_000, description="Newest N.")] = None,
    ) -> dict[str, Any]:
        """Recorded events (decisions, takeovers, rejoins), oldest first."""
        answer = ControlAnswer.from_json(
            await ask({"cmd": "history", "since": since, "limit": limit})
        )
        if not answer.ok:
            raise HTTPException(503, f"the history store: {answer.why}")
        return {"events": answer.events}

    if metrics is not None:
        registry = metrics.registry

        @app.get("/metrics", response_class=Response, tags=["status"])
        async def prometheus() -> Response:
            """Prometheus text exposition."""
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _action_routes(app: FastAPI, agent: Controlled, settings: Api, checks: Checks) -> None:
    def authorized(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> None:
        """Actions need the token from ``[api].token_file``; read at each call, so a
        rotated file takes effect without a restart."""
        if settings.token_file is None:
            raise HTTPException(403, "actions are disabled: [api].token_file is not configured")
        if creds is None or creds.scheme.lower() != "bearer":
            raise HTTPException(
                401, "actions need 'Authorization: Bearer <token>'", {"WWW-Authenticate": "Bearer"}
            )
        try:
            token = settings.token_file.read_text().strip()
        except OSError as exc:
            raise HTTPException(403, f"cannot read the token file: {exc.strerror}") from None
        if not token or not hmac.compare_digest(creds.credentials.encode(), token.encode()):
            raise HTTPException(403, "wrong token")

    async def run(work: Callable[[LoopAgent], dict[str, Any]]) -> dict[str, Any]:
        """Run an ops workflow in a worker thread; its error becomes the HTTP status the
        exit-code table gives it (a refusal: 409), with the same message as the CLI's."""
        port = LoopAgent(agent, asyncio.get_running_loop(), settings.action_timeout)
        try:
            return await asyncio.to_thread(work, port)
        except DualbeatError as exc:
            raise HTTPException(http_status(exc), str(exc)) from None

    auth = [Depends(authorized)]

    @app.post("/switchover", response_model=ActionResult, responses=_ACTION, dependencies=auth)
    async def switchover() -> dict[str, Any]:
        """Planned, lossless switchover: the active hands over to the healthy standby.
        The same pre-checks as ``dualbeat switchover`` run first (409 with the reasons);
        the answer comes once the agent took the command, not when the move ends."""

        def work(port: LoopAgent) -> dict[str, Any]:
            plan = switchover_ops.check(agent.config, port, agent.node, checks=checks)
            answer = switchover_ops.start(port, plan)
            return answer.to_json() | {"active": plan.active, "target": plan.target}

        return await run(work)

    @app.post("/standby", response_model=ActionResult, responses=_ACTION, dependencies=auth)
    async def go_standby() -> dict[str, Any]:
        """This node, if active, hands over to the healthy standby."""
        return await run(lambda port: handover.standby(port, agent.node).to_json())

    @app.post("/maintenance", response_model=ActionResult, responses=_ACTION, dependencies=auth)
    async def maintenance(body: Maintenance) -> dict[str, Any]:
        """Pause (``on``) or resume automation on both nodes; monitoring goes on. Waits up
        to ``timeout`` for the peer to confirm (``confirmed``), as ``dualbeat maintenance``."""

        def work(port: LoopAgent) -> dict[str, Any]:
            done = maintenance_ops.switch(port, agent.node, body.on, timeout=body.timeout)
            return done.answer.to_json() | {"confirmed": done.confirmed}

        return await run(work)


async def _allow_every_method(request: Request, exc: Exception) -> Response:
    """Starlette's 405 lists only the first route of a path in ``Allow``; ``/standby`` is
    both a check (GET) and an action (POST), so list every route's methods."""
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed: set[str] = set()
        for route in request.app.routes:
            if isinstance(route, APIRoute) and route.path_regex.match(request.url.path):
                allowed |= route.methods or set()
        headers["Allow"] = ", ".join(sorted(allowed))
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers)

"""The HTTP routes: what a load balancer, a proxy, Prometheus and an operator ask the agent.

Why Starlette and pydantic, not FastAPI: the routes need an ASGI router that runs on
asyncio (the agent's loop), query strings and bodies validated into 422 answers naming
the offending field, and an OpenAPI spec (``/openapi.json``) generated from the same
models the routes use, which the contract tests (schemathesis) check the routes against.
Starlette routes, pydantic validates and documents (``dualbeat.api.openapi``); FastAPI
did the same for 6.8 MB more of an idle agent's memory, which put it over issue 14's
50 MB (``dualbeat.api.openapi`` says where they went).

Every route is ``async`` and runs on the agent's loop, where the agent's state is
written, so it reads a consistent view without locks. Only blocking work leaves it for a
thread: reading the token file, and the ops workflows the actions run.

Health checks answer 200 or 503 with a small JSON body saying why, as Patroni's
``/primary`` and ``/replica`` do: HAProxy's ``option httpchk`` only needs the status code,
an operator's ``curl`` gets the reason.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from dualbeat import __version__
from dualbeat.agent.control import ControlAnswer
from dualbeat.agent.status import AgentStatus
from dualbeat.api.metrics import AgentMetrics
from dualbeat.api.openapi import Operation, document
from dualbeat.api.port import Controlled, LoopAgent
from dualbeat.api.routing import Guard, RequestInvalid, Routes, body, http_error, invalid, query
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


class StandbyQuery(BaseModel):
    max_lag: float | None = Field(
        None, ge=0, description="Seconds of lag allowed (default [replication].max_lag)."
    )


class HistoryQuery(BaseModel):
    since: float | None = Field(None, ge=0, description="Unix time; newer only.")
    limit: int | None = Field(None, ge=1, le=100_000, description="Newest N.")


_CHECK: dict[int, tuple[type, str]] = {503: (Check, "the check fails; `reason` says why")}
_ACTION: dict[int, tuple[type, str]] = {
    400: (Problem, "the body is not JSON, or the agent did not take it"),
    401: (Problem, "no bearer token"),
    403: (Problem, "wrong token, or actions disabled (no token_file)"),
    409: (Problem, "the agent refused; `detail` says why"),
    503: (Problem, "the agent cannot do this now, or did not answer"),
}


def build_app(
    agent: Controlled, metrics: AgentMetrics | None = None, *, checks: Checks = preflight
) -> Starlette:
    """The application for ``agent``; ``metrics`` adds ``/metrics``; ``checks`` are the
    switchover's pre-checks (both servers over SQL; a test gives fakes)."""
    settings = agent.config.api or Api()
    routes = Routes(_authorizer(settings))
    _health_routes(routes, agent)
    _status_routes(routes, agent, _asker(agent, settings), metrics)
    _action_routes(routes, agent, settings, checks)
    info = {
        "title": "dualbeat agent",
        "description": "Health checks, status, history and actions of one dualbeat node.",
        "version": __version__,
    }
    page = resources.files("dualbeat.api").joinpath("static/index.html").read_text()

    async def index(request: Request) -> Response:
        """The live page: both nodes, the VIP, replication and the event timeline."""
        return HTMLResponse(page)

    async def openapi(request: Request) -> Response:
        """Built at each request: it is asked for rarely, and its schemas would otherwise
        stay in memory for the agent's life."""
        return JSONResponse(document(info, routes.operations))

    served = [*routes.served, Route("/", index), Route("/openapi.json", openapi)]
    handlers = {HTTPException: http_error, RequestInvalid: invalid}
    return Starlette(routes=served, exception_handlers=handlers)


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


def _health_routes(routes: Routes, agent: Controlled) -> None:
    def check(ok: bool, status: AgentStatus, reason: str) -> JSONResponse:
        body = Check(ok=ok, node=agent.node, role=status.role.value, reason=reason)
        return JSONResponse(body.model_dump(), status_code=200 if ok else 503)

    async def active(request: Request) -> Response:
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

    async def standby(request: Request) -> Response:
        """200 on a healthy standby that replicates and lags at most ``max_lag`` seconds."""
        max_lag = query(StandbyQuery, request).max_lag
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

    async def health(request: Request) -> Response:
        """200 when the agent runs and its local MySQL is healthy, whatever the role."""
        s = agent.status()
        ok = s.mysql.health is Health.HEALTHY
        return check(ok, s, f"local MySQL is {s.mysql.health.value}")

    tags = ("health",)
    routes.add(Operation("GET", "/active", active, Check, _CHECK, tags=tags))
    routes.add(Operation("GET", "/standby", standby, Check, _CHECK, StandbyQuery, tags=tags))
    routes.add(Operation("GET", "/health", health, Check, _CHECK, tags=tags))


def _number(value: float | None) -> str:
    """A lag as the agent reported it: ``12`` stays ``12`` (not ``12.0``)."""
    return "None" if value is None else f"{value:g}"


def _status_routes(
    routes: Routes, agent: Controlled, ask: Ask, metrics: AgentMetrics | None
) -> None:
    async def status(request: Request) -> Response:
        """Both nodes as this node sees them (the same JSON as ``dualbeat status --json``)."""
        return JSONResponse(agent.status().to_json())

    async def history(request: Request) -> Response:
        """Recorded events (decisions, takeovers, rejoins), oldest first."""
        q = query(HistoryQuery, request)
        answer = ControlAnswer.from_json(
            await ask({"cmd": "history", "since": q.since, "limit": q.limit})
        )
        if not answer.ok:
            raise HTTPException(503, f"the history store: {answer.why}")
        return JSONResponse({"events": answer.events})

    routes.add(Operation("GET", "/status", status, AgentStatus, tags=("status",)))
    unavailable = {503: (Problem, "Service Unavailable")}
    routes.add(Operation("GET", "/history", history, History, unavailable, HistoryQuery))
    if metrics is not None:
        registry = metrics.registry

        async def prometheus(request: Request) -> Response:
            """Prometheus text exposition."""
            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

        routes.add(Operation("GET", "/metrics", prometheus, tags=("status",)))


def _authorizer(settings: Api) -> Guard:
    async def authorized(request: Request) -> None:
        """Actions need the token from ``[api].token_file``; read at each call, in a
        thread, so a rotated file takes effect without a restart."""
        if settings.token_file is None:
            raise HTTPException(403, "actions are disabled: [api].token_file is not configured")
        header = request.headers.get("Authorization") or ""
        scheme, _, credentials = header.partition(" ")
        credentials = credentials.strip()
        if not credentials or scheme.lower() != "bearer":
            raise HTTPException(
                401, "actions need 'Authorization: Bearer <token>'", {"WWW-Authenticate": "Bearer"}
            )
        try:
            token = (await asyncio.to_thread(settings.token_file.read_text)).strip()
        except OSError as exc:
            raise HTTPException(403, f"cannot read the token file: {exc.strerror}") from None
        if not token or not hmac.compare_digest(credentials.encode(), token.encode()):
            raise HTTPException(403, "wrong token")

    return authorized


def _action_routes(routes: Routes, agent: Controlled, settings: Api, checks: Checks) -> None:
    async def run(work: Callable[[LoopAgent], dict[str, Any]]) -> Response:
        """Run an ops workflow in a worker thread; its error becomes the HTTP status the
        exit-code table gives it (a refusal: 409), with the same message as the CLI's."""
        port = LoopAgent(agent, asyncio.get_running_loop(), settings.action_timeout)
        try:
            return JSONResponse(await asyncio.to_thread(work, port))
        except DualbeatError as exc:
            raise HTTPException(http_status(exc), str(exc)) from None

    async def switchover(request: Request) -> Response:
        """Planned, lossless switchover: the active hands over to the healthy standby.
        The same pre-checks as ``dualbeat switchover`` run first (409 with the reasons);
        the answer comes once the agent took the command, not when the move ends."""

        def work(port: LoopAgent) -> dict[str, Any]:
            plan = switchover_ops.check(agent.config, port, agent.node, checks=checks)
            answer = switchover_ops.start(port, plan)
            return answer.to_json() | {"active": plan.active, "target": plan.target}

        return await run(work)

    async def go_standby(request: Request) -> Response:
        """This node, if active, hands over to the healthy standby."""
        return await run(lambda port: handover.standby(port, agent.node).to_json())

    async def maintenance(request: Request) -> Response:
        """Pause (``on``) or resume automation on both nodes; monitoring goes on. Waits up
        to ``timeout`` for the peer to confirm (``confirmed``), as ``dualbeat maintenance``."""
        wanted = await body(Maintenance, request)

        def work(port: LoopAgent) -> dict[str, Any]:
            done = maintenance_ops.switch(port, agent.node, wanted.on, timeout=wanted.timeout)
            return done.answer.to_json() | {"confirmed": done.confirmed}

        return await run(work)

    for path, endpoint, wants in (
        ("/switchover", switchover, None),
        ("/standby", go_standby, None),
        ("/maintenance", maintenance, Maintenance),
    ):
        routes.add(
            Operation("POST", path, endpoint, ActionResult, _ACTION, body=wants, secured=True)
        )

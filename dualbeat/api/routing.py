"""What the routes share: declaring a route with its documentation, reading a request into
a model, and the error answers (always JSON, always with the reason).

A route and its OpenAPI operation are declared in one call (``Routes.add``), so the
document cannot miss a route nor describe one that is not served. A request that does not
fit its model is answered 422 with pydantic's list of problems, each ``loc`` starting with
where it was found (``query``, ``body``), the shape FastAPI gave them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from dualbeat.api.openapi import Operation

M = TypeVar("M", bound=BaseModel)
Endpoint = Callable[[Request], Awaitable[Response]]
Guard = Callable[[Request], Awaitable[None]]


class Routes:
    """The routes served and the operations documented; a ``secured`` operation's
    endpoint runs only once ``guard`` let the request through."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.served: list[Route] = []
        self.operations: list[Operation] = []

    def add(self, op: Operation) -> None:
        endpoint: Endpoint = op.endpoint
        if op.secured:
            endpoint = self._guarded(op.endpoint)
        self.served.append(Route(op.path, endpoint, methods=[op.method]))
        self.operations.append(op)

    def _guarded(self, endpoint: Endpoint) -> Endpoint:
        async def guarded(request: Request) -> Response:
            await self.guard(request)
            return await endpoint(request)

        return guarded


class RequestInvalid(Exception):
    """A request that does not fit its model; ``errors`` are pydantic's, located."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors


def query(model: type[M], request: Request) -> M:
    """The query string as ``model`` (the last value of a repeated name, unknown names
    ignored)."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise RequestInvalid(_located("query", exc)) from None


async def body(model: type[M], request: Request) -> M:
    """The JSON body as ``model``: an empty body is a missing one (422), JSON that does not
    parse is invalid (422), bytes that are not text at all are a bad request (400)."""
    raw = await request.body()
    if not raw:
        missing = {"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}
        raise RequestInvalid([missing])
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        loc: list[str | int] = ["body", exc.pos]
        error = {"type": "json_invalid", "loc": loc, "msg": "JSON decode error", "input": {}}
        raise RequestInvalid([error | {"ctx": {"error": exc.msg}}]) from None
    except ValueError:
        raise HTTPException(400, "There was an error parsing the body") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestInvalid(_located("body", exc)) from None


def _located(where: str, exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic's errors as JSON (an input or context that is not JSON becomes a string),
    each ``loc`` prefixed with ``where``."""
    errors: list[dict[str, Any]] = json.loads(exc.json(include_url=False))
    return [error | {"loc": [where, *error["loc"]]} for error in errors]


async def invalid(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestInvalid)
    return JSONResponse({"detail": exc.errors}, 422)


async def http_error(request: Request, exc: Exception) -> Response:
    """Every HTTP error as ``{"detail": ...}`` JSON. Starlette's 405 lists only the first
    route of a path in ``Allow``; ``/standby`` is both a check (GET) and an action (POST),
    so list every route's methods."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed: set[str] = set()
        for route in request.app.routes:
            if isinstance(route, Route) and route.path_regex.match(request.url.path):
                allowed |= route.methods or set()
        headers["Allow"] = ", ".join(sorted(allowed))
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers)

"""The OpenAPI document of the routes, generated from the models they validate and answer with.

Why by hand rather than FastAPI: importing FastAPI builds its pydantic models of the
whole OpenAPI format (``fastapi.openapi.models``, 2.3 MB) and loads OpenTelemetry (a
FastAPI dependency since 0.16x), and its routes build models at start; an idle agent with
``[api]`` took 53.9 MB with it, 47.1 without (``bench/api_rss.py``; issue 14: at most 50).
The routes need a few lines of it: one ``Operation`` per route, and the schemas pydantic
derives from the route's own models, built only when ``/openapi.json`` is asked for.
The document has the shape FastAPI gave it (operation ids, the 422 ``HTTPValidationError``
answer, the ``HTTPBearer`` scheme), which the contract tests (schemathesis) check against.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode


class ValidationError(BaseModel):
    """One problem of a request, as pydantic names it (``loc`` starts with where: query,
    body)."""

    loc: list[str | int]
    msg: str
    type: str
    input: Any = None
    ctx: dict[str, Any] | None = None


class HTTPValidationError(BaseModel):
    """The 422 answer: every problem of the request at once."""

    detail: list[ValidationError]


@dataclass(frozen=True)
class Operation:
    """One route as the document describes it; ``endpoint`` gives its name and docstring.
    ``responses`` maps an error status to its body's model and meaning."""

    method: str
    path: str
    endpoint: Callable[..., Any]
    response: type | None = None
    responses: Mapping[int, tuple[type, str]] = field(default_factory=dict)
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    tags: tuple[str, ...] = ()
    secured: bool = False

    @property
    def validated(self) -> bool:
        return self.query is not None or self.body is not None


_REF = "#/components/schemas/{model}"


def document(info: dict[str, str], operations: list[Operation]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations``; ``info`` is its title, version and
    description. A request's model is documented as it is read, an answer's as it is
    written (pydantic's validation and serialization modes, as FastAPI does)."""
    keys: dict[tuple[type, JsonSchemaMode], None] = {}  # each once, in order of appearance
    for op in operations:
        if op.body is not None:
            keys[(op.body, "validation")] = None
        answers = [op.response, *(m for m, _ in op.responses.values())]
        if op.validated:
            answers.append(HTTPValidationError)
        keys.update(dict.fromkeys((m, "serialization") for m in answers if m))
    inputs: list[tuple[type, JsonSchemaMode, TypeAdapter[Any]]] = [
        (model, mode, TypeAdapter(model)) for model, mode in keys
    ]
    refs, defs = TypeAdapter.json_schemas(inputs, ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    components: dict[str, Any] = {"schemas": dict(sorted(defs.get("$defs", {}).items()))}
    if any(op.secured for op in operations):
        components["securitySchemes"] = {"HTTPBearer": {"type": "http", "scheme": "bearer"}}
    return {"openapi": "3.1.0", "info": info, "paths": paths, "components": components}


Refs = dict[tuple[type, JsonSchemaMode], dict[str, Any]]


def _operation(op: Operation, refs: Refs) -> dict[str, Any]:
    name = op.endpoint.__name__
    doc: dict[str, Any] = {"tags": list(op.tags)} if op.tags else {}
    doc["summary"] = name.replace("_", " ").title()
    if op.endpoint.__doc__:
        doc["description"] = inspect.cleandoc(op.endpoint.__doc__)
    doc["operationId"] = re.sub(r"\W", "_", f"{name}{op.path}") + f"_{op.method.lower()}"
    if op.query is not None:
        doc["parameters"] = _parameters(op.query)
    if op.body is not None:
        doc["requestBody"] = {"content": _json(refs[(op.body, "validation")]), "required": True}
    ok: dict[str, Any] = {"description": "Successful Response"}
    if op.response is not None:
        ok["content"] = _json(refs[(op.response, "serialization")])
    responses: dict[str, Any] = {"200": ok}
    for status, (model, meaning) in op.responses.items():
        responses[str(status)] = {
            "description": meaning,
            "content": _json(refs[(model, "serialization")]),
        }
    if op.validated:
        responses["422"] = {
            "description": "Validation Error",
            "content": _json(refs[(HTTPValidationError, "serialization")]),
        }
    doc["responses"] = responses
    if op.secured:
        doc["security"] = [{"HTTPBearer": []}]
    return doc


def _parameters(query: type[BaseModel]) -> list[dict[str, Any]]:
    """One query parameter per field of ``query``, with the field's own schema."""
    schema = query.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", ()))
    params = []
    for name, prop in schema["properties"].items():
        param = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    return params


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}

"""The agent's HTTP API: health checks for load balancers, status, actions, metrics, a page.

Rule 1: the API decides nothing and has no workflow of its own. Health answers are read
from ``Agent.status()`` (an ``AgentStatus``); actions run the ``dualbeat.ops`` workflows the
CLI runs (pre-checks, refusals, waiting), reaching the agent through ``Agent._answer`` (the
control socket's protocol) on its loop, so HTTP and the CLI refuse the same things for the
same reasons: a refusal is exit code 4 there and 409 here (``ops.outcome``).
Rule 2: a bad request gets a 4xx with a reason, a missing feature a 503 saying so, and
an agent that does not answer in time a 503: never a 500, never a hang.
Rule 3: it runs on the agent's own event loop (uvicorn's ``Server.serve``), so serving
costs no thread and a slow client never delays a heartbeat: every handler is quick.
"""

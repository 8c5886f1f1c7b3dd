"""The agent's HTTP API: health checks for load balancers, status, actions, metrics, a page.

Rule 1: the API decides nothing. Health answers are read from ``Agent.status()``; actions
go through ``Agent._answer`` (the control socket's protocol), so HTTP and the CLI can
never disagree about what a command does.
Rule 2: a bad request gets a 4xx with a reason, a missing feature a 503 saying so, and
an agent that does not answer in time a 503: never a 500, never a hang.
Rule 3: it runs on the agent's own event loop (uvicorn's ``Server.serve``), so serving
costs no thread and a slow client never delays a heartbeat: every handler is quick.
"""

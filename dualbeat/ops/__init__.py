"""The operator's workflows, once, for both shells: ``dualbeat`` (``cli/``) and the HTTP
API (``api/``).

Rule 1: a workflow never prints and never exits. It reports progress through a
``Progress`` callback and ends by returning a result or raising a ``DualbeatError``;
``ops.outcome`` maps that error to the CLI's exit code and to the API's HTTP status, so
the two shells refuse the same things, for the same reasons, with the same codes.
Rule 2: a workflow reaches the agent only through an ``AgentPort`` (the control socket
for the CLI, the agent's own loop for the API) and the servers only through functions
it is given, so a test runs it against fakes.
Rule 3: the shells only parse arguments and render results: a check, a refusal or a
retry written in a shell is a second path that the other shell lacks.
"""

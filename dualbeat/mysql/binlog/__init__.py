"""Reading transactions back from a server's binary logs, for the rejoin analysis.

Rule 1: only ``dualbeat.rejoin`` (and ``mysql.lookup``, for row values) uses this
        package; the agent's loop never reads binary logs.
Rule 2: the server's own tool decodes the logs (``read``); we parse only its stable
        ``--verbose`` text (``text``) and turn its literals into canonical values
        (``values``), streaming, so a large log costs time and not memory.
"""

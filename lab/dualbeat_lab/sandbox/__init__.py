"""A real local pair for the demo and the integration tests.

Rule 1: everything lives in network namespaces the sandbox creates (``db1``, ``db2``,
        ``client`` and a switch namespace holding the bridge); no address, route or
        packet ever touches the host's own interfaces.
Rule 2: the sandbox stops only processes it started, by pid, after checking the pid is
        alive and lives in one of its namespaces (pids wrap).
Rule 3: ``up`` and ``down`` are idempotent and cope with the leftovers of a killed run.
"""

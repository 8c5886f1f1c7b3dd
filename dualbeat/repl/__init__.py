"""Dual-master replication: set up a pair (``setup``) and lint it (``check``).

Rule 1: judgements (is this variable right, is this transaction errant) are pure functions
        of ``mysql.snapshot.ServerSnapshot`` values, unit-tested without a server.
Rule 2: changing a server goes through ``mysql`` only; this package holds no SQL text.
"""

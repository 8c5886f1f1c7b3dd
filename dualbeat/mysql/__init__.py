"""The MySQL/MariaDB seam.

Rule 1: all SQL text of dualbeat lives in this package, but for a feature's own ``sql``
        module beside its code (``checksum.sql``, ``rejoin.sql``).
Rule 2: PyMySQL exceptions never leave it: they are translated into ``dualbeat.errors``
        (unavailable, busy, misconfigured, query error).
Rule 3: server flavours differ only through ``dialect.Dialect``; callers never branch on
        a version string.
"""

"""dualbeat: high availability for a MySQL/MariaDB dual-master pair.

Rules of the package:

Rule 1: decisions live in ``dualbeat.core`` and are pure functions; nothing there
        opens a socket, runs SQL, sleeps or reads a clock.
Rule 2: every external thing (MySQL, the network, the VIP, the arbiter) has one seam
        package; foreign exceptions are translated there into ``dualbeat.errors``.
Rule 3: SQL text lives only in ``dualbeat.mysql`` and in a feature's own ``sql`` module
        (``checksum.sql``, ``rejoin.sql``); ``tests/unit/test_sql_seam.py`` holds it.
Rule 4: configuration is rejected, never adjusted: ``dualbeat.config`` turns TOML into
        frozen objects that are passed in, never read from a global.
"""

from importlib.metadata import version

#: The one version number is pyproject.toml's; the installed metadata carries it here.
__version__ = version("dualbeat")

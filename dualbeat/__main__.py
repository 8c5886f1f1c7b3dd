"""``python -m dualbeat`` is the same program as the ``dualbeat`` command."""

from dualbeat.cli import main

main()

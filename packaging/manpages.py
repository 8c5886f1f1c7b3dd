"""Write dualbeat's manual pages from the CLI's own help: ``dualbeat.1`` and one page per
command (``dualbeat-repl-setup.1``, ...), so ``man`` and ``--help`` can never disagree.

Why click-man's library and not its command: its command takes the first click command it
finds in the entry point's module (``main`` is a plain function), which is not the group.
Usage: ``python packaging/manpages.py OUTDIR VERSION``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from click_man.core import write_man_pages

from dualbeat.cli import cli


def main(outdir: str, version: str) -> None:
    target = Path(outdir)
    target.mkdir(parents=True, exist_ok=True)
    write_man_pages("dualbeat", cli, version=version, target_dir=str(target))


if __name__ == "__main__":
    main(*sys.argv[1:])

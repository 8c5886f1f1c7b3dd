"""The README and docs/ stay navigable and true to the code.

Why tests: a moved section leaves dead links, a renamed key leaves a stale reference,
and an alert whose runbook anchor does not exist sends the on-call engineer nowhere.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def anchors(markdown: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    heads = re.findall(r"^#+ (.+)$", markdown.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_the_readme_starts_with_the_two_commands() -> None:
    text = README.read_text()
    first_block = text.split("```")[1]
    assert re.findall(r"^make (\w+)", first_block, re.M) == ["demo", "test"]
    order = [text.index(h) for h in ("## Install", "## Quick start", "## Documentation")]
    assert order == sorted(order)


def test_every_relative_link_resolves() -> None:
    for page in [README, *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name}: dead link {target}"
        for target, anchor in re.findall(r"\]\(([^)#:]*)#([^)]+)\)", page.read_text()):
            linked = page.parent / target if target else page
            assert anchor in anchors(linked), f"{page.name}: no #{anchor} in {linked.name}"


def test_every_alert_links_a_runbook_section() -> None:
    rules = (ROOT / "deploy" / "prometheus" / "dualbeat-alerts.yml").read_text()
    links = re.findall(r'runbook: "docs/runbook\.md#([^"]+)"', rules)
    assert len(links) == rules.count("- alert:")
    assert set(links) <= anchors(DOCS / "runbook.md")


def test_the_configuration_reference_is_current() -> None:
    proc = subprocess.run(
        [sys.executable, ROOT / "scripts" / "config_reference.py", "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr

"""The agent's live page in headless Chromium (Debian's), opened on the standby before a
failover: without a reload, it shows the standby becoming active and the takeover in its
event timeline.

Why Playwright (Python) driving the system ``chromium``: it waits on page conditions
with deadlines (no fixed sleeps) and speaks to the browser over a pipe, so the browser
can run inside the client namespace through a wrapper script (``ip netns exec client
chromium``) and reach the agents' LAN addresses exactly as an operator's browser would.
No browser is downloaded: ``executable_path`` names Debian's build.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from dualbeat_lab.sandbox import faults
from dualbeat_lab.sandbox.files import API_PORT
from dualbeat_lab.sandbox.lab import LabInfo

pytestmark = pytest.mark.integration


def chromium_in(namespace: str, tmp_path: Path) -> Path:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed (scripts/install-deps installs it)")
    wrapper = tmp_path / "chromium-in-namespace"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {namespace} {chromium} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def test_the_page_shows_a_failover_as_it_happens(pair: LabInfo, tmp_path: Path) -> None:
    info = pair
    browser_exe = chromium_in(info.client_namespace, tmp_path)
    page_url = f"http://{info.node('db2').lan_address}:{API_PORT}/"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(browser_exe), args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(page_url)
        expect(page.locator("#me")).to_have_text("db2", timeout=10_000)
        expect(page.locator("#local-role")).to_have_text("standby")
        expect(page.locator("#peer-role")).to_have_text("active")
        expect(page.locator("#vip-address")).to_have_text(info.lab.vip)
        expect(page.locator("#vip-holder")).to_have_text("db1")
        expect(page.locator("#local-replicating")).to_have_text("yes")
        expect(page.locator("#timeline tr").first).to_be_visible()
        page.screenshot(path=str(tmp_path / "before.png"))

        faults.kill_mysqld(info.lab, "db1")

        expect(page.locator("#local-role")).to_have_text("active", timeout=30_000)
        expect(page.locator("#vip-holder")).to_have_text("db2", timeout=10_000)
        expect(page.locator("#peer-mysql")).to_have_text("failed", timeout=10_000)
        promoted = page.locator('#timeline tr[data-code="PROMOTED"]')
        expect(promoted).to_have_count(1, timeout=10_000)
        expect(promoted).to_contain_text("db2")
        page.screenshot(path=str(tmp_path / "after.png"))
        browser.close()

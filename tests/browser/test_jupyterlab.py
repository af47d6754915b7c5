"""Tutorial 01 in a real JupyterLab, in headless Chromium: what a user sees, not what a kernel says.

nbval proves the tutorials run; only a browser proves the schema inspector renders as a Tab
widget (not as its ``Tab(children=...)`` text) and that thumbnails appear. The server runs on
loopback with a token and private folders; the page is Debian's chromium driven by Playwright
(never ``playwright install``: browser downloads are not possible here). Screenshots go to
``artifacts/``. Without /usr/bin/chromium the test is skipped, except under CI, where it fails.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = "01_image_classification.ipynb"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[str]:
    """A JupyterLab serving a copy of the tutorial; yields the notebook's URL."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium at /usr/bin/chromium (tasks.py installs it)")
        pytest.skip("no /usr/bin/chromium: apt-get install chromium to run the browser test")
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, root)
    settings = tmp_path / "settings"
    for plugin, values in {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    }.items():
        (settings / plugin).parent.mkdir(parents=True, exist_ok=True)
        (settings / plugin).write_text(json.dumps(values))
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--port-retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "server.log").open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("JupyterLab did not start:\n" + (tmp_path / "server.log").read_text()[-3000:])
                time.sleep(0.3)
        yield f"{base}/lab/tree/{NOTEBOOK}?reset&token={token}"
    finally:
        request = urllib.request.Request(
            f"{base}/api/shutdown", method="POST", headers={"Authorization": f"token {token}"}
        )
        try:
            urllib.request.urlopen(request, timeout=10)
            server.wait(timeout=30)
        except OSError:
            server.kill()
            server.wait()


def test_tutorial_renders_the_schema_widget_and_thumbnails(lab: str, tmp_path: Path):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1400},
        )
        try:
            page = browser.new_page()
            page.goto(lab)
            expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible()
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            outputs = page.locator(".jp-OutputArea")
            expect(outputs.locator(".widget-tab .lm-TabBar").first).to_be_visible(timeout=240_000)
            last = page.locator(".jp-Cell").last.locator(".jp-OutputArea-output")
            expect(last.first).to_be_visible(timeout=240_000)  # the final check cell has run
            expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=240_000)

            tab = outputs.locator(".widget-tab").first
            for title in ("Features", "Labels", "Details"):
                expect(tab.locator(".lm-TabBar-tab", has_text=title)).to_be_visible()
            expect(tab).to_contain_text("input_1")
            thumbnails = outputs.locator('img[src^="data:image/png"]')
            assert thumbnails.count() >= 10
            assert "Tab(children=" not in outputs.all_inner_texts().__str__()
            stderr = outputs.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            assert not stderr.filter(has_text="Error").count()
            assert not stderr.filter(has_text="oneDNN").count()  # runtime start-up notices stay out

            inspector = page.locator(".jp-OutputArea-output", has=page.locator(".widget-tab")).first
            inspector.scroll_into_view_if_needed()
            inspector.screenshot(path=str(ARTIFACTS / "schema_inspector.png"))
            predictions = page.locator(".jp-Cell", has_text="%%bqml predictions").locator(".jp-OutputArea")
            expect(predictions.locator('img[src^="data:image/png"]')).to_have_count(20)  # uri and input_1 per photo
            predictions.evaluate("area => area.scrollIntoView({block: 'start'})")
            box = predictions.bounding_box()  # the first rows: the whole table is taller than the page
            page.screenshot(path=str(ARTIFACTS / "predictions.png"), clip={**box, "height": min(box["height"], 700)})
        finally:
            browser.close()

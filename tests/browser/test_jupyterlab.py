"""What a user sees in a real JupyterLab, in headless Chromium, not what a kernel says.

nbval proves the tutorials run; only a browser proves what their outputs look like: the schema
inspector as tabs that switch (plain HTML and CSS, no widget), WebP thumbnails, progress bars
ended as a line of text, and all of it still there in a saved notebook reopened without a
kernel's help. Two notebooks in one folder share the default workspace ``./.bqml`` while both
kernels live, and a restarted kernel finds its bucket mounts again: those are facts about
kernels, files and the page together, so they are checked here too. So is the editor: ``%%bqml``
cells highlighted as SQL by our prebuilt extension (labextension/), and the kernel's completion of
table names in a popup.

One JupyterLab server and one browser serve the whole module. The server runs on loopback
with a token and private folders (config, data, runtime, settings, workspaces, IPython, temporary
files, and ``$BQML_MAGIC_STATE`` where mounts are remembered), so nothing of the user's is read
or written. The page is Debian's chromium driven by Playwright (never ``playwright install``:
browser downloads are not possible here). Screenshots go to ``artifacts/``. Without
/usr/bin/chromium the module is skipped, except under CI, where it fails.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import nbformat
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Locator, Page

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
TUTORIAL = "01_image_classification.ipynb"
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
KERNEL_IDLE = "Python 3 (ipykernel) | Idle"
"""The status bar's text for the active notebook; the toolbar's marker also reads idle with no kernel."""
LONG_WAIT = 240_000
"""Milliseconds for a whole notebook to run (TensorFlow's start-up included)."""
WEBP = 'img[src^="data:image/webp"]'
ERRORS = (
    ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'],"
    ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
)
LINES = (
    "e => { const r = document.createRange(); r.selectNodeContents(e);"
    " return new Set([...r.getClientRects()].map(c => Math.round(c.top))).size }"
)
"""How many lines an element's text takes on screen."""
PROGRESS = re.compile(r"^ML\.PREDICT my_dataset\.classifier: 10 rows in \d+\.\d s$")

# Two notebooks of our own, both on the default workspace ./.bqml of the server's root folder.
OBJECT_TABLE = """%%bqml
CREATE SCHEMA my_dataset;

CREATE EXTERNAL TABLE my_dataset.object_table
WITH CONNECTION `us.my-connection`
OPTIONS (object_metadata = 'SIMPLE', uris = ['gs://my_bucket/photos/*'])"""
MAKER_CELLS = [
    "%load_ext bqml_magic",
    "import bqml_magic.samples\n\ns = bqml_magic.samples.build()",
    "%bqml mount my_bucket={s.bucket}",
    OBJECT_TABLE,
    "%%bqml\nSELECT uri, content_type, size\nFROM my_dataset.object_table\nORDER BY uri",  # run after a restart only
]
READER_CELLS = [
    "%load_ext bqml_magic",
    "%%bqml\nSELECT uri, size\nFROM my_dataset.object_table\nORDER BY uri",
    # a wide result: previews first, then a long text, the table's columns and some more
    "%%bqml wide\n"
    "SELECT REPEAT('long text ', 40) AS note, *, LENGTH(uri) AS uri_length, UPPER(content_type) AS kind,\n"
    "       size * 8 AS bits, DATE '2024-05-01' AS checked_on\n"
    "FROM my_dataset.object_table\nORDER BY uri\nLIMIT 4",
    # image URIs in columns not called uri: the photo nearest in size to each photo
    "%%bqml pairs\n"
    "SELECT a.uri AS photo, b.uri AS nearest, ABS(a.size - b.size) AS size_gap\n"
    "FROM my_dataset.object_table AS a JOIN my_dataset.object_table AS b ON a.uri != b.uri\n"
    "WHERE TRUE\nQUALIFY ROW_NUMBER() OVER (PARTITION BY a.uri ORDER BY ABS(a.size - b.size)) = 1\n"
    "ORDER BY photo",
    # where a column of image URIs names something that is not an image, or nothing
    "%%bqml markers\n"
    "SELECT uri AS nearest FROM my_dataset.object_table WHERE uri LIKE '%/coffee.png'\n"
    "UNION ALL SELECT 'gs://my_bucket/photos/notes.txt'\n"
    "UNION ALL SELECT 'gs://my_bucket/photos/missing.jpg'\n"
    "ORDER BY nearest",
]
# A third notebook, in a folder of its own (its own ./.bqml): SQL highlighting and completion.
SQL_CELLS_FOLDER = "editing"
SQL_CELLS = "sql_cells.ipynb"
COMPLETED = "%%bqml photos\nSELECT uri, content_type  -- one row a photo\nFROM my_dataset."
"""Tab at its end: the tables of my_dataset, in a popup (two of them, else JupyterLab inserts the one)."""
PYTHON_NAMES = "SELECT = FROM = None  # Python names, not SQL"
SQL_CELLS_SOURCES = [
    *MAKER_CELLS[:3],  # %load_ext, the sample photos, %bqml mount
    OBJECT_TABLE + ";\n\nCREATE TABLE my_dataset.labels AS SELECT 'tabby cat' AS label",
    PYTHON_NAMES,
    COMPLETED,
]
TOKEN_STYLE = """(content, word) => {
    const walker = document.createTreeWalker(content, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        if (walker.currentNode.textContent.includes(word)) {
            const style = getComputedStyle(walker.currentNode.parentElement);
            return [style.color, style.fontWeight];
        }
    }
    return null;
}"""
"""The colour and weight a CodeMirror editor draws ``word`` in (its first text node holding it)."""
THEME_COLOUR = """variable => {
    const probe = document.createElement('span');
    probe.style.color = `var(${variable})`;
    document.body.appendChild(probe);
    const colour = getComputedStyle(probe).color;
    probe.remove();
    return colour;
}"""
"""A colour of JupyterLab's theme (``--jp-mirror-editor-keyword-color``), as computed styles give it."""


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: its address, token, the folder it serves and its kernels' ``$BQML_MAGIC_STATE``."""

    base: str
    token: str
    root: Path
    state: Path

    def url(self, notebook: str) -> str:
        return f"{self.base}/lab/tree/{notebook}?reset&token={self.token}"

    def api(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(
            f"{self.base}/api/{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_notebook(path: Path, sources: list[str]) -> None:
    """A notebook with a kernelspec, so no "Select Kernel" dialog appears when it opens."""
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in sources],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    nbformat.write(notebook, path)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A JupyterLab serving a copy of the tutorial and our two notebooks."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium at /usr/bin/chromium (tasks.py installs it)")
        pytest.skip("no /usr/bin/chromium: apt-get install chromium to run the browser test")
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / TUTORIAL, root)
    write_notebook(root / "make_table.ipynb", MAKER_CELLS)
    write_notebook(root / "read_table.ipynb", READER_CELLS)
    (root / SQL_CELLS_FOLDER).mkdir()
    write_notebook(root / SQL_CELLS_FOLDER / SQL_CELLS, SQL_CELLS_SOURCES)
    settings = tmp / "settings"
    for plugin, values in {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
        "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
        # every cell in the page, on screen or not: counts of outputs see them all
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }.items():
        (settings / plugin).parent.mkdir(parents=True, exist_ok=True)
        (settings / plugin).write_text(json.dumps(values))
    port, token, state = free_port(), secrets.token_hex(16), tmp / "state"
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_DATA_DIR=str(tmp / "data"),  # the trust database of saved notebooks, too
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        IPYTHONDIR=str(tmp / "ipython"),
        BQML_MAGIC_STATE=str(state),  # kernels inherit it: remembered mounts stay here
        TMPDIR=str(tmp / "tmp"),  # the tutorial's temporary workspace, gone with pytest's folders
    )
    (tmp / "tmp").mkdir()
    log = tmp / "server.log"
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
            f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
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
                    pytest.fail("JupyterLab did not start:\n" + log.read_text()[-3000:])
                time.sleep(0.3)
        yield Lab(base, token, root, state)
    finally:
        try:
            Lab(base, token, root, state).api("shutdown", method="POST")
            server.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def browser(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("profile")),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            viewport={"width": 1440, "height": 1400},
        )
        try:
            yield context
        finally:
            context.close()


# -- driving JupyterLab ----------------------------------------------------------------------
def open_lab(browser: BrowserContext, lab: Lab, notebook: str) -> Page:
    """A new browser tab with JupyterLab showing ``notebook``, its kernel ready."""
    from playwright.sync_api import expect

    page = browser.new_page()
    page.goto(lab.url(notebook))
    expect(page.get_by_text(KERNEL_IDLE)).to_be_visible()
    return page


def open_from_file_browser(page: Page, notebook: str) -> Locator:
    """Open ``notebook`` by double-clicking it in the file browser, as a user does; its panel."""
    from playwright.sync_api import expect

    item = page.locator(".jp-DirListing-item", has_text=notebook)
    if not item.is_visible():  # the left sidebar was closed
        toggle_file_browser(page)
    item.dblclick()
    notebook_panel = activate(page, notebook)
    expect(page.get_by_text(KERNEL_IDLE)).to_be_visible()
    return notebook_panel


def toggle_file_browser(page: Page) -> None:
    """Open or close the left sidebar's file browser (closed, it leaves the notebook more room)."""
    page.get_by_role("tab", name=re.compile(r"^File Browser")).click()


def activate(page: Page, notebook: str) -> Locator:
    """Bring ``notebook``'s tab to the front; its panel (outputs of other notebooks excluded)."""
    from playwright.sync_api import expect

    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=notebook)
    expect(tab).to_be_visible()
    tab.click()
    expect(tab).to_have_class(re.compile(r"\blm-mod-current\b"))
    return page.locator(f"[id='{tab.get_attribute('data-id')}']")


def menu(page: Page, top: str, item: str) -> None:
    """A menu command. ``item`` is matched whole ("Run All Cells" is also in "Restart Kernel and Run
    All Cells…"); an item's accessible name ends with its shortcut ("Restart Kernel… 0, 0")."""
    page.get_by_role("menuitem", name=top, exact=True).click()
    page.get_by_role("menuitem", name=re.compile(f"^{re.escape(item)}( |$)")).click()


def wait_until_run(page: Page, cells: Locator) -> None:
    """Until each of ``cells`` has an execution count and the kernel is idle again."""
    from playwright.sync_api import expect

    expect(cells.locator(".jp-InputPrompt").filter(has_text=re.compile(r"^\[\d+\]:$"))).to_have_count(
        cells.count(), timeout=LONG_WAIT
    )
    expect(page.get_by_text(KERNEL_IDLE)).to_be_visible()


def assert_no_errors(outputs: Locator) -> None:
    from playwright.sync_api import expect

    expect(outputs.locator(ERRORS)).to_have_count(0)
    texts = " ".join(outputs.all_inner_texts())
    for wrong in ("Error displaying widget", "Tab(children=", "in use by", "Traceback"):
        assert wrong not in texts


def check_inspector_tabs(inspector: Locator) -> None:
    """Features shown first; each label shows its pane alone; back on Features at the end."""
    from playwright.sync_api import expect

    panes = {name: inspector.locator(f".bqml-pane-{name.lower()}") for name in ("Features", "Labels", "Details")}
    expect(inspector.locator(".bqml-tabs > h4 > label")).to_have_count(3)
    expect(panes["Features"]).to_be_visible()
    expect(panes["Features"]).to_contain_text("input_1")
    for name in ("Labels", "Details", "Features"):
        inspector.locator(".bqml-tabs > h4 > label", has_text=name).click()
        for other, pane in panes.items():
            if other == name:
                expect(pane).to_be_visible()
            else:
                expect(pane).to_be_hidden()
        if name == "Labels":
            expect(panes["Labels"]).to_contain_text("predictions")
        if name == "Details":
            expect(panes["Details"].locator("details > summary")).to_have_text("Raw signature")


def code_cell(notebook_panel: Locator, source_start: str) -> Locator:
    """The code cell whose source starts with ``source_start`` (the editor's first line)."""
    return notebook_panel.locator(".jp-CodeCell").filter(
        has=notebook_panel.page.locator(".jp-InputArea-editor", has_text=source_start)
    )


# -- the tutorial, run, saved and reopened ---------------------------------------------------
@pytest.fixture(scope="module")
def tutorial(browser: BrowserContext, lab: Lab) -> Iterator[tuple[Page, Locator]]:
    """The tutorial after Run All: its page and notebook panel."""
    from playwright.sync_api import expect

    page = open_lab(browser, lab, TUTORIAL)
    toggle_file_browser(page)  # the screenshots show whole rows
    expect(page.locator(".jp-DirListing")).to_be_hidden()
    notebook_panel = activate(page, TUTORIAL)
    menu(page, "Run", "Run All Cells")
    wait_until_run(page, notebook_panel.locator(".jp-CodeCell"))
    yield page, notebook_panel
    page.close()


def test_tutorial_shows_inspector_tabs_thumbnails_and_progress_lines(tutorial: tuple[Page, Locator]):
    from playwright.sync_api import expect

    page, notebook_panel = tutorial
    outputs = notebook_panel.locator(".jp-OutputArea")
    assert_no_errors(outputs)
    assert not outputs.locator(".jp-OutputArea-output").filter(has_text="oneDNN").count()  # runtime notices stay out
    expect(outputs.locator(".jupyter-widgets")).to_have_count(0)  # progress bars leave no widget behind

    inspector = outputs.locator(".bqml-inspector").first
    expect(inspector).to_contain_text("Model my_dataset.classifier")
    check_inspector_tabs(inspector)
    inspector.scroll_into_view_if_needed()
    box = inspector.bounding_box()
    assert box is not None
    page.screenshot(path=str(ARTIFACTS / "schema_inspector.png"), clip={**box, "width": min(box["width"], 640)})

    progress = outputs.locator(".bqml-progress")
    expect(progress).to_have_count(3)  # best, predictions, top5
    for line in progress.all():
        expect(line).to_have_text(PROGRESS)
        assert line.evaluate("e => getComputedStyle(e).color") != "rgb(211, 47, 47)"  # red only when stopped

    expect(outputs.locator('img[src^="data:image/png"]')).to_have_count(0)
    predictions = code_cell(notebook_panel, "%%bqml predictions").locator(".jp-OutputArea")
    expect(predictions.locator(WEBP)).to_have_count(20)  # uri and input_1 per photo
    header = predictions.locator("table.bqml-result thead th")
    expect(header.nth(1)).to_contain_text("preview")
    expect(header.nth(1)).to_contain_text("uri")
    expect(header.nth(2)).to_contain_text("input_1")
    first_row = predictions.locator("tbody tr").first
    assert first_row.locator("td").nth(1).locator("small").evaluate(LINES) == 1  # the caption 224×224×3 FLOAT64
    array = first_row.locator("td").nth(2)
    expect(array).to_contain_text("… 1,001 items]")
    assert array.evaluate(LINES) == 1
    page.mouse.move(0, 0)  # no row highlighted under the pointer
    predictions.evaluate("area => area.scrollIntoView({block: 'start'})")
    box, table = predictions.bounding_box(), predictions.locator("table.bqml-result").bounding_box()
    assert box is not None and table is not None
    clip = {**box, "width": table["x"] + table["width"] + 8 - box["x"], "height": min(box["height"], 700)}
    page.screenshot(path=str(ARTIFACTS / "predictions.png"), clip=clip)  # the first rows: the table is taller

    # top5: 50 rows, 20 shown; each photo's repeats drawn from one embedded copy
    top5 = code_cell(notebook_panel, "%%bqml top5").locator(".jp-OutputArea")
    expect(top5.get_by_text("Showing the first 20 of 50 rows")).to_have_count(2)  # above and below
    expect(top5.locator("tbody tr")).to_have_count(20)
    repeats = top5.locator('img[class^="bqml-"]:not([src])')
    expect(repeats).not_to_have_count(0)
    width = repeats.first.evaluate("img => img.getBoundingClientRect().width")
    assert width > 10, "a repeated image is not drawn"


def test_saved_tutorial_reopens_with_working_tabs_and_no_widget_errors(tutorial: tuple[Page, Locator], lab: Lab):
    from playwright.sync_api import expect

    page, notebook_panel = tutorial
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text=TUTORIAL)
    notebook_panel.locator(".jp-Cell").first.click()  # focus the notebook (command mode) for the shortcut
    page.keyboard.press("Escape")
    page.keyboard.press("Control+s")
    expect(tab).not_to_have_class(re.compile(r"\bjp-mod-dirty\b"))
    saved = nbformat.read(lab.root / TUTORIAL, as_version=4)
    assert any("bqml-inspector" in str(output) for cell in saved.cells for output in cell.get("outputs", []))

    menu(page, "Kernel", "Shut Down Kernel")
    # closed while still "Terminating", the notebook would reopen with its kernel "Disconnected"
    expect(page.get_by_text("No Kernel | Unknown")).to_be_visible()
    tab.locator(".lm-TabBar-tabCloseIcon").click()
    expect(tab).to_have_count(0)

    reopened = open_from_file_browser(page, TUTORIAL)  # nothing is run again
    outputs = reopened.locator(".jp-OutputArea")
    expect(outputs.locator(".jp-OutputArea-output").first).to_be_visible()
    expect(reopened.locator(".jp-InputPrompt").filter(has_text="[*]")).to_have_count(0)
    inspector = outputs.locator(".bqml-inspector").first
    expect(inspector).to_be_visible()
    check_inspector_tabs(inspector)
    assert_no_errors(outputs)
    assert "model not found" not in page.locator("body").inner_text()
    expect(outputs.locator(".bqml-progress").first).to_have_text(PROGRESS)
    expect(outputs.locator(WEBP).first).to_be_visible()


# -- two notebooks, one default workspace ----------------------------------------------------
@pytest.fixture(scope="module")
def maker(browser: BrowserContext, lab: Lab) -> Iterator[tuple[Page, Locator]]:
    """make_table.ipynb after its first four cells (mount, object table): page and panel."""
    from playwright.sync_api import expect

    page = open_lab(browser, lab, "make_table.ipynb")
    notebook_panel = activate(page, "make_table.ipynb")
    cells = notebook_panel.locator(".jp-CodeCell")
    cells.last.locator(".jp-InputPrompt").click()  # select the last cell: run everything above it
    menu(page, "Run", "Run All Above Selected Cell")
    wait_until_run(page, cells.filter(has_not_text="SELECT uri, content_type"))
    assert_no_errors(notebook_panel.locator(".jp-OutputArea"))
    expect(notebook_panel.locator(".jp-OutputArea").get_by_text("CREATE EXTERNAL TABLE")).to_be_visible()
    assert (lab.root / ".bqml").is_dir()  # the default workspace, beside the notebooks
    yield page, notebook_panel
    page.close()


@pytest.fixture(scope="module")
def reader(maker: tuple[Page, Locator]) -> Locator:
    """read_table.ipynb, opened beside make_table.ipynb (whose kernel lives on, idle) and run."""
    page, _ = maker
    notebook_panel = open_from_file_browser(page, "read_table.ipynb")
    toggle_file_browser(page)  # room for the wide result
    menu(page, "Run", "Run All Cells")
    wait_until_run(page, notebook_panel.locator(".jp-CodeCell"))
    return notebook_panel


def test_second_notebook_uses_the_workspace_while_the_first_kernel_lives(reader: Locator, lab: Lab):
    from playwright.sync_api import expect

    kernels = {session["path"]: session["kernel"]["execution_state"] for session in lab.api("sessions")}
    assert kernels.get("make_table.ipynb") == "idle", kernels  # alive all along, and idle
    assert_no_errors(reader.locator(".jp-OutputArea"))
    first = code_cell(reader, "%%bqml").first.locator(".jp-OutputArea")
    expect(first.locator(WEBP)).to_have_count(10)
    expect(first).to_contain_text("10 rows × 2 columns.")


def test_wide_result_puts_previews_first_and_cuts_long_text(reader: Locator):
    from playwright.sync_api import expect

    wide = code_cell(reader, "%%bqml wide").locator(".jp-OutputArea")
    header = wide.locator("table.bqml-result thead th")
    expect(header.nth(1)).to_contain_text("preview")
    expect(header.nth(1)).to_contain_text("uri")
    expect(header.nth(2)).to_have_text("note")
    expect(wide.locator(WEBP)).to_have_count(4)
    note = wide.locator("tbody tr").first.locator("td").nth(1).locator("div")
    assert note.get_attribute("title") == "long text " * 40
    assert note.evaluate(LINES) == 1, "the long text takes more than one line"
    assert note.evaluate("d => d.scrollWidth > d.clientWidth"), "the long text is not cut"
    wide.scroll_into_view_if_needed()
    wide.page.mouse.move(0, 0)
    wide.screenshot(path=str(ARTIFACTS / "wide_result.png"))


def test_previews_for_image_uris_in_columns_not_named_uri(reader: Locator):
    from playwright.sync_api import expect

    pairs = code_cell(reader, "%%bqml pairs").locator(".jp-OutputArea")
    header = pairs.locator("table.bqml-result thead th")
    for position, name in ((1, "photo"), (2, "nearest")):
        expect(header.nth(position)).to_contain_text("preview")
        expect(header.nth(position)).to_contain_text(name)
    first_row = pairs.locator("tbody tr").first.locator("td")
    for position in (0, 1):
        expect(first_row.nth(position).locator("img")).to_be_visible()
    expect(pairs.locator("tbody tr")).to_have_count(10)
    expect(pairs.get_by_text("not an image")).to_have_count(0)

    markers = code_cell(reader, "%%bqml markers").locator(".jp-OutputArea tbody tr > td:nth-of-type(1)")
    expect(markers.nth(0).locator(WEBP)).to_be_visible()
    expect(markers.nth(1)).to_have_text("unreadable")  # missing.jpg
    expect(markers.nth(2)).to_have_text("not an image")  # notes.txt


def test_restarted_kernel_finds_its_mounts_again(maker: tuple[Page, Locator], reader: Locator, lab: Lab):
    """After a restart, only %load_ext and a query: the workspace remembered where my_bucket is."""
    from playwright.sync_api import expect

    files = lab.state.glob("mounts/*.json")
    remembered = {m["workspace"]: m["buckets"] for m in (json.loads(f.read_text()) for f in files)}
    assert remembered[str(lab.root / ".bqml")].keys() == {"my_bucket"}  # in $BQML_MAGIC_STATE, not in the home
    page, _ = maker
    notebook_panel = activate(page, "make_table.ipynb")
    menu(page, "Kernel", "Restart Kernel…")
    page.locator(".jp-Dialog").get_by_role("button", name="Confirm Kernel Restart").click()
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    expect(page.get_by_text(KERNEL_IDLE)).to_be_visible()
    load, query = notebook_panel.locator(".jp-CodeCell").nth(0), notebook_panel.locator(".jp-CodeCell").nth(4)
    for cell in (load, query):  # the mount cell is not run again
        cell.locator(".jp-InputArea-editor").click()
        expect(cell.locator(".cm-editor.cm-focused")).to_have_count(1)
        page.keyboard.press("Control+Enter")  # run in place
    expect(query.locator(".jp-InputPrompt")).to_have_text("[2]:", timeout=LONG_WAIT)  # counted from 1 again
    query = query.locator(".jp-OutputArea")
    assert_no_errors(query)
    expect(query.locator(WEBP)).to_have_count(10)


# -- editing %%bqml cells: SQL highlighting, completion ----------------------------------------
@pytest.fixture(scope="module")
def sql_cells(browser: BrowserContext, lab: Lab) -> Iterator[tuple[Page, Locator]]:
    """editing/sql_cells.ipynb with its tables made, the last two cells not run: page and panel."""
    page = open_lab(browser, lab, f"{SQL_CELLS_FOLDER}/{SQL_CELLS}")
    toggle_file_browser(page)  # the screenshot shows the notebook alone
    notebook_panel = activate(page, SQL_CELLS)
    cells = notebook_panel.locator(".jp-CodeCell")
    code_cell(notebook_panel, PYTHON_NAMES).locator(".jp-InputPrompt").click()
    menu(page, "Run", "Run All Above Selected Cell")
    wait_until_run(page, cells.filter(has_not_text=PYTHON_NAMES).filter(has_not_text="%%bqml photos"))
    assert_no_errors(notebook_panel.locator(".jp-OutputArea"))
    yield page, notebook_panel
    page.close()


def test_bqml_cells_are_highlighted_as_sql(sql_cells: tuple[Page, Locator]):
    """SELECT is an SQL keyword in a %%bqml cell and a plain name in a Python cell; the magic line is
    drawn in one colour; typing or deleting the magic switches the language as it goes."""
    from playwright.sync_api import expect

    page, notebook_panel = sql_cells
    sql = code_cell(notebook_panel, "%%bqml photos").locator(".cm-content")
    python = code_cell(notebook_panel, PYTHON_NAMES).locator(".cm-content")
    expect(sql).to_have_attribute("data-language", "sql")
    expect(python).to_have_attribute("data-language", "python")
    keyword, meta = (page.evaluate(THEME_COLOUR, f"--jp-mirror-editor-{name}-color") for name in ("keyword", "meta"))
    assert sql.evaluate(TOKEN_STYLE, "SELECT") == [keyword, "700"]
    assert sql.evaluate(TOKEN_STYLE, "FROM") == [keyword, "700"]
    python_select = python.evaluate(TOKEN_STYLE, "SELECT")
    assert python_select is not None and python_select[0] != keyword
    magic_line = sql.locator(".cm-line.cm-bqml-magic")
    expect(magic_line).to_have_text("%%bqml photos")
    colours = magic_line.evaluate("line => [line, ...line.querySelectorAll('*')].map(e => getComputedStyle(e).color)")
    assert set(colours) == {meta}, colours

    python.click()  # the magic typed on top of a Python cell, then deleted
    page.keyboard.press("Control+Home")
    page.keyboard.type("%%bqml\n")
    expect(python).to_have_attribute("data-language", "sql")
    expect(python.locator(".cm-line").first).to_have_class(re.compile(r"\bcm-bqml-magic\b"))
    assert python.evaluate(TOKEN_STYLE, "SELECT") == [keyword, "700"]
    page.keyboard.press("Control+Home")
    page.keyboard.press("Shift+ArrowDown")
    page.keyboard.press("Delete")
    expect(python).to_have_text(PYTHON_NAMES)
    expect(python).to_have_attribute("data-language", "python")
    expect(python.locator(".cm-bqml-magic")).to_have_count(0)


def test_tab_offers_the_tables_of_a_dataset(sql_cells: tuple[Page, Locator]):
    """The kernel's completer (bqml_magic.completion) in JupyterLab's popup, after ``FROM my_dataset.``."""
    from playwright.sync_api import expect

    page, notebook_panel = sql_cells
    cell = code_cell(notebook_panel, "%%bqml photos")
    editor = cell.locator(".cm-content")
    editor.click()
    # the completer follows the active cell a moment later: a Tab before that goes nowhere
    expect(cell.locator(".jp-InputArea-editor")).to_have_class(re.compile(r"\bjp-mod-completer-enabled\b"))
    page.keyboard.press("Control+End")
    page.keyboard.press("Tab")
    completer = page.locator(".jp-Completer")
    expect(completer).to_be_visible()
    offered = completer.locator(".jp-Completer-match")
    expect(offered.get_by_text("object_table", exact=True)).to_have_count(1)
    expect(offered.get_by_text("labels", exact=True)).to_have_count(1)

    page.mouse.move(0, 0)
    cell_box, popup_box = cell.bounding_box(), completer.bounding_box()
    assert cell_box is not None and popup_box is not None
    right = max(popup_box["x"] + popup_box["width"], cell_box["x"] + 520) + 16
    bottom = max(popup_box["y"] + popup_box["height"], cell_box["y"] + cell_box["height"]) + 8
    clip = {"x": cell_box["x"], "y": cell_box["y"], "width": right - cell_box["x"], "height": bottom - cell_box["y"]}
    page.screenshot(path=str(ARTIFACTS / "completion.png"), clip=clip)

    offered.get_by_text("object_table", exact=True).click()
    expect(completer).to_be_hidden()
    expect(editor.locator(".cm-line").last).to_have_text("FROM my_dataset.object_table")

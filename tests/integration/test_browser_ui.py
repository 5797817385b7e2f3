"""Neo4j Browser itself, in headless Chromium: the README's "Neo4j Browser" steps as a user takes them.

Debian's chromium, driven by Playwright (its Python package, no browser download): open Browser from the embedded
server, log in with the generated password, play the graphrec guide from :class:`graphrec.browser.GuideServer`, run
the guide's parameter block, load the style sheet from the guide server, drop a favourite onto the window (Browser's
own file-drop import), run it, and compare the rows Browser renders with the database's answer to the same query and
parameters. Screenshots of each step are kept in the test's temporary folder (``screenshots/``).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from pathlib import Path

import pytest
import torch

import loaders
from graphrec.browser import GuideServer, browser_dir, browser_origins
from graphrec.export import export
from graphrec.ingest import ingest
from graphrec.mapping import DEFAULT
from graphrec.publish import publish
from graphrec.runs import save_run
from graphrec.sample import write_sample

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium); "
                                                         "CI installs it, so this runs there")
FAVOURITE = "01_recommend_for_user_index.cypher"
# A file dropped onto Browser, as a user drags it from a file manager: Browser's FileDrop reads dataTransfer.files.
DROP_FILE = """([name, text]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([text], name, {type: 'text/plain'}));
  const target = document.querySelector('.filedrop');
  for (const type of ['dragenter', 'dragover', 'drop']) {
    target.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true, dataTransfer: transfer}));
  }
}"""


@pytest.fixture(params=["own schema", "mapped graph"])
def published(request, graph, tmp_path):
    """A run of random embeddings published and served on graphrec's sample graph, or on a graph in the user's own
    shape (tests/integration/test_mapping.py's shop) read through a mapping; and the folder of the Browser files for
    it (the shipped ones, or those `graphrec browser` writes for the mapping)."""
    folder = browser_dir()
    if request.param == "own schema":
        ingest(graph, loaders.load("csv", write_sample(tmp_path / "sample", n_users=120, n_items=90, seed=7)))
    else:
        from graphrec.guide import write
        from tests.integration.test_mapping import SHOP, build_shop

        build_shop(graph)
        graph.remap(SHOP)
        request.addfinalizer(lambda: graph.remap(DEFAULT))
        folder = write(tmp_path / "browser", graph.mapping, {"user": "1003", "item": "P-001", "items": ["P-001"]})
    _, maps = export(graph)
    gen = torch.Generator().manual_seed(0)
    run = save_run(tmp_path / "runs", {"id": "browser-ui-run", "model": "random"}, maps,
                   {"user": torch.randn(len(maps.ids["user"]), 8, generator=gen),
                    "item": torch.randn(len(maps.ids["item"]), 8, generator=gen)})
    publish(graph, run)
    return run, set(maps.ids["item"]), folder


def _favourite(folder: Path, name: str) -> tuple[str, str]:
    """(file text, the query a user runs: the text without its title comment)."""
    text = (folder / "favorites" / name).read_text()
    return text, "\n".join(ln for ln in text.splitlines() if not ln.startswith("//")).strip()


def _newest_frame(page, command: str | re.Pattern, timeout: float | None = None):
    """The newest result frame whose command line contains ``command``, once it has rendered."""
    frame = page.get_by_test_id("frame").filter(
        has=page.get_by_test_id("frameCommand").filter(has_text=command)).first
    frame.get_by_test_id("frameContents").wait_for(timeout=timeout)
    return frame


def _run(page, text: str) -> None:
    """Type ``text`` into Browser's editor and run it."""
    page.get_by_test_id("activeEditor").click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)
    page.get_by_test_id("editor-Run").click()


def _log_in(page, status) -> None:
    """Browser's connect form, filled as the README says: connect URL = the server's Bolt URI, user neo4j, the
    password from its file (read here, typed into the page; it never reaches a command line or environment)."""
    scheme, address = status.uri.split("://", 1)
    page.get_by_test_id("bolt-scheme-select").select_option(f"{scheme}://")
    page.get_by_test_id("boltaddress").fill(address)
    page.get_by_test_id("username").fill(status.user)
    page.get_by_test_id("password").focus()
    page.keyboard.insert_text(Path(status.password_file).read_text().strip())
    page.get_by_test_id("connect").click()
    page.get_by_text("You are connected as user").wait_for(timeout=60_000)


def _play(page, command: str, requests: list[str]) -> None:
    """Play the guide. Browser reads the server's ``browser.remote_content_hostname_whitelist`` shortly after it
    connects; a ``:play`` before that finds "No guide by that name", so it is tried again for a while."""
    for _ in range(15):
        _run(page, command)
        frame = _newest_frame(page, command)
        guide = frame.get_by_test_id("carousel")
        guide.or_(frame.get_by_text("No guide by that name")).wait_for()
        if guide.count():
            return
        page.wait_for_timeout(1000)
    raise AssertionError(f"Browser found no guide at {command!r}; the guide server saw {requests or 'no request'}")


def _browser_params(page, needed: set[str]) -> dict:
    """The parameters Browser holds (``:params`` shows them as JSON), once all of ``needed`` are set: a ``:param
    NAME => VALUE`` line is evaluated by the server, so it can land a moment after the block's frame appears."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    params: dict = {}
    for _ in range(20):
        _run(page, ":params")
        # A Run clicked while the block's own statements are still being evaluated can be dropped by Browser (seen
        # once in CI: no ":params" frame in 30 s), so a frame that does not come is asked for again.
        try:
            shown = _newest_frame(page, re.compile(r"^:params$"), timeout=10_000).get_by_test_id("rawParamData")
            shown.wait_for(timeout=10_000)
        except PlaywrightTimeout:
            continue
        params = json.loads(shown.inner_text())
        if needed <= params.keys():
            return params
        page.wait_for_timeout(250)
    raise AssertionError(f"Browser never held the parameters {sorted(needed - params.keys())}; it has {params}")


def test_browser_plays_the_guide_and_renders_a_favourite(server, graph, published, tmp_path):
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect, sync_playwright

    run, item_ids, folder = published
    favourite_file, query = _favourite(folder, FAVOURITE)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    requests: list[str] = []
    with GuideServer(browser_origins(server.http_url), folder=folder, log=requests.append) as guide, \
            sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--disable-dev-shm-usage"])
        page = chromium.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(30_000)
        try:
            page.goto(server.browser_url)
            _log_in(page, server)
            page.screenshot(path=shots / "1-connected.png", animations="disabled")

            # The guide, fetched cross-origin by Browser from the guide server.
            _play(page, guide.play_command, requests)
            slide = _newest_frame(page, guide.play_command).get_by_test_id("carousel")
            slide.get_by_role("heading", name="graphrec in Neo4j Browser").wait_for()
            assert "the Cypher queries that serve recommendations" in slide.inner_text()
            page.screenshot(path=shots / "2-guide.png", animations="disabled")

            # Its parameter block: a click copies it into the editor, Run runs it.
            slide.locator("pre.runnable", has_text=":params").first.click()
            page.get_by_test_id("editor-Run").click()
            params = _browser_params(page, set(re.findall(r"\$([A-Za-z_]\w*)", query)))

            # The style sheet from the guide server, then the favourite dropped onto the window, as the README says.
            _run(page, guide.style_command)
            label = "User" if folder == browser_dir() else "Customer"
            expect(_newest_frame(page, guide.style_command)).to_contain_text(f"node.{label} {{")
            page.screenshot(path=shots / "3-style.png", animations="disabled")
            page.evaluate(DROP_FILE, [FAVOURITE, favourite_file])
            page.get_by_role("button", name="Save to favorites").click()
            page.get_by_test_id("navigationFavorites").click()
            saved = page.get_by_test_id("savedScriptListItem").filter(has_text="graphrec: recommend.for_user_index")
            saved.hover()
            saved.get_by_test_id("savedScriptsButton-Run").click()
            page.get_by_test_id("navigationFavorites").click()  # close the drawer again

            frame = _newest_frame(page, "MATCH (run:ModelRun)")
            frame.locator("table tbody tr, [data-testid=cypherFrameErrorMessage]").first.wait_for()
            page.screenshot(path=shots / "4-favourite-rows.png", animations="disabled")
            error = frame.get_by_test_id("cypherFrameErrorMessage")
            assert error.count() == 0, f"Browser refused the favourite with parameters {params}: {error.inner_text()}"
            expect(frame).to_contain_text("completed after")  # every record is in
            rendered = [[json.loads(cell) for cell in row.locator("td[role=cell]").all_inner_texts()]
                        for row in frame.locator("table tbody tr").all()]
        finally:
            with contextlib.suppress(PlaywrightError):  # what the page showed when it stopped, if it still can
                page.screenshot(path=shots / "last.png", animations="disabled")
            chromium.close()

    expected = graph.query(query, {**params, "k": int(params["k"])})
    assert len(rendered) == len(expected) == params["k"] > 0
    assert [r[0] for r in rendered] == [r["item"] for r in expected]
    assert {r[0] for r in rendered} <= item_ids and {r[2] for r in rendered} == {run.id}
    assert [r[1] for r in rendered] == pytest.approx([r["score"] for r in expected])

"""``dlcli report`` in a real browser: the system Chromium, headless, offline, from file://.

Playwright drives the Chromium of the system packages (``executable_path``; ``.ci/run``
installs it with apt, since Playwright's own browser download is not reachable from CI).
The test skips only when no Chromium is installed here; with ``DLCLI_REQUIRE_CHROMIUM=1``
(set by ``.ci/run``) a missing browser is a failure instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from report_helpers import IMAGE_CLASSES, IMG_CLASS, SCRIPT_CLASS, image_run, make_report

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def _chromium() -> str | None:
    configured = os.environ.get("DLCLI_CHROMIUM")
    if configured:
        return configured
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


CHROMIUM = _chromium()
if CHROMIUM is None and os.environ.get("DLCLI_REQUIRE_CHROMIUM") == "1":
    raise RuntimeError("DLCLI_REQUIRE_CHROMIUM=1 but no chromium on PATH (apt install chromium)")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium installed (apt install chromium; .ci/run installs it)",
)


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report_browser")
    run = image_run(root)
    out = root / "report.html"
    code, err = make_report(run, out)
    assert code == 0, err
    return out


def test_report_renders_offline_in_chromium(report_file: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    requests: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            context = browser.new_context(offline=True, viewport={"width": 1200, "height": 900})
            page = context.new_page()
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.on("request", lambda r: requests.append(r.url))
            page.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if route.request.url.startswith(("file:", "data:"))
                    else route.abort()
                ),
            )
            page.goto(report_file.as_uri(), wait_until="load")
            _check_page(page)
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert not problems, problems  # console errors (a CSP violation is one too)
    assert not dialogs, dialogs  # a class name that ran as script would alert
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    _check_not_blank(shot)


def _check_page(page: Page) -> None:
    images = page.evaluate(
        "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt])"
    )
    assert len(images) > 5
    assert all(complete and width > 0 for complete, width, _ in images), images
    headers = page.locator("#confusion th.name").all_inner_texts()
    assert SCRIPT_CLASS in headers and IMG_CLASS in headers  # shown as text
    assert page.evaluate("document.scripts.length") == 1
    assert page.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0

    assert page.locator("#gallery .group[data-group=cell]").is_hidden()
    unfiltered = page.locator("#gallery .example:visible").count()
    cell = _off_diagonal_cell(page)
    t, p = cell.get_attribute("data-true"), cell.get_attribute("data-pred")
    cell.click()
    visible = page.locator("#gallery .example:visible")
    assert 0 < visible.count() <= int(cell.get_attribute("data-count") or 0)
    for k in range(visible.count()):
        example = visible.nth(k)
        assert (example.get_attribute("data-true"), example.get_attribute("data-pred")) == (t, p)
    status = page.locator("#filter-status").inner_text()
    names = [cell.get_attribute("data-true-name"), cell.get_attribute("data-pred-name")]
    assert all(name in status for name in names), status
    assert all(name in IMAGE_CLASSES for name in names)
    page.locator("#filter-clear").click()
    assert page.locator("#gallery .example:visible").count() == unfiltered


def _off_diagonal_cell(page: Page) -> Locator:
    """A mistake cell with examples (the fixture files pictures under wrong classes)."""
    cells = page.locator("#confusion button.cell")
    for k in range(cells.count()):
        cell = cells.nth(k)
        same = cell.get_attribute("data-true") == cell.get_attribute("data-pred")
        if not same and int(cell.get_attribute("data-count") or 0) > 0:
            return cell
    raise AssertionError("no mistakes in the confusion matrix")


def _check_not_blank(shot: Path) -> None:
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape[0] > 900  # the full page, longer than one screen
    assert pixels.std() > 20, f"screenshot looks blank (std {pixels.std():.1f})"
    assert (pixels < 100).mean() > 0.01  # text and pictures, not a white page

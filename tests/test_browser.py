"""The built site in a real browser: headless Chromium (Debian's), outside network blocked.

Every page is opened from a local server; a JavaScript error, a failed request, a missing
image, a broken internal link or a widget that did not render fails the test. A slider is
moved to check that precomputed frames switch without a kernel. Screenshots of each page
are saved to ``_build/screenshots/`` as test artefacts.
"""

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import ROOT

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ROOT / "_build" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(built):
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    repo, _ = built
    html = repo / "_build" / "html"
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(html)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", html
    server.shutdown()


@pytest.fixture(scope="module")
def browser_context(site):
    from playwright.sync_api import sync_playwright

    base, _ = site
    blocked: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})

        def route(route_):
            if route_.request.url.startswith(base):
                route_.continue_()
            else:                                   # the outside network is cut off
                blocked.append(route_.request.url)
                route_.abort()
        context.route("**/*", route)
        yield context, blocked
        browser.close()


def site_pages(html: Path) -> list[Path]:
    skip = {"genindex.html", "search.html"}
    return sorted(p for p in html.rglob("*.html")
                  if p.name not in skip and "_static" not in p.parts and "_sources" not in p.parts)


def test_every_page_renders_offline(site, browser_context):
    base, html = site
    context, blocked = browser_context
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    widget_pages = 0
    for path in site_pages(html):
        relative = path.relative_to(html).as_posix()
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda err, e=errors: e.append(f"JS error: {err}"))
        page.on("response", lambda r, e=errors: r.status >= 400 and r.url.startswith(base)
                and e.append(f"HTTP {r.status}: {r.url}"))
        page.goto(f"{base}/{relative}", wait_until="networkidle")
        # links resolve against the page finally shown (index.html redirects to the intro)
        shown = html / urlparse(page.url).path.lstrip("/")
        if page.locator('script[type="application/vnd.jupyter.widget-state+json"]').count():
            widget_pages += 1
            try:
                page.wait_for_selector(".widget-slider, .jupyter-widgets.widget-inline-hbox",
                                       timeout=15000)
            except Exception:
                errors.append("widgets did not render")
        broken_images = page.evaluate(
            "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
            ".map(i => i.getAttribute('src'))")
        errors += [f"missing image {src}" for src in broken_images]
        for href in page.evaluate("Array.from(document.querySelectorAll('a[href]'))"
                                  ".map(a => a.getAttribute('href'))"):
            parsed = urlparse(href)
            if parsed.scheme or href.startswith(("#", "mailto:")) or not parsed.path:
                continue
            target = (shown.parent / parsed.path).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                errors.append(f"broken internal link {href}")
        page.screenshot(path=str(SCREENSHOTS / (relative.replace("/", "__") + ".png")), full_page=False)
        page.close()
        problems += [f"{relative}: {e}" for e in errors]
    assert not problems, "\n".join(problems)
    assert widget_pages >= 1, "no page carries widget state: the sliders were not saved"
    assert not blocked, f"the site asked for outside resources: {sorted(set(blocked))[:5]}"


def test_slider_switches_precomputed_frames(site, browser_context):
    base, _ = site
    context, _ = browser_context
    page = context.new_page()
    page.goto(f"{base}/book/generated/schneider_cae_vae_aae.html", wait_until="networkidle")
    page.wait_for_selector(".widget-slider .noUi-handle", timeout=15000)
    readout = page.locator(".widget-slider .widget-readout").first
    caption = page.locator(".widget-html-content:visible", has_text="t =").first
    before, caption_before = readout.inner_text(), caption.inner_text()
    handle = page.locator(".widget-slider .noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    page.wait_for_timeout(300)
    assert readout.inner_text() != before, "the slider did not move"
    caption = page.locator(".widget-html-content:visible", has_text="t =").first
    assert caption.inner_text() != caption_before, "the slider did not switch the frame"
    page.close()

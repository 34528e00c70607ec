"""Take the README's screenshots of the review app on the demo case (headless system Chromium).

    commtrail demo /tmp/demo && python docs/screenshots.py /tmp/demo/case
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

from commtrail.case import Case
from commtrail.serve.server import bind, url_of

OUT = Path(__file__).parent / "img"


def main(case_dir: str) -> None:
    """Timeline filtered to one party, the event page of an exhibit with a photo, and a screenshot's
    page with the message only in it."""
    server, keys = bind(Case(Path(case_dir)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1200, "height": 760})
        page.goto(url_of(server, keys))
        page.goto(f"{base}/?party=Jordan&offset=100")
        page.screenshot(path=OUT / "serve-timeline.png")
        page.goto(f"{base}/?q=familiar")
        page.locator("tr.event td.exhibit a").first.click()
        page.screenshot(path=OUT / "serve-event.png")
        page.goto(f"{base}/?flags=only_in_screenshot")   # the screenshot holding a message no backup has
        page.locator("tr.event td.exhibit a").first.click()
        page.screenshot(path=OUT / "serve-screenshot.png", full_page=True)
        browser.close()
    server.shutdown()
    for name in ("serve-timeline.png", "serve-event.png", "serve-screenshot.png"):   # 256 colours: a page is flat colours
        with Image.open(OUT / name) as shot:
            small = shot.convert("RGB").quantize(256)
        small.save(OUT / name, optimize=True)


if __name__ == "__main__":
    main(sys.argv[1])

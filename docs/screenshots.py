"""Take the tutorial's screenshots: drive Chromium through the tutorial's path on a running site (bin/run, its demo
ready) and write docs/images/tutorial-*.png. Run it again after a page changes, so the pictures never go stale:

    .venv/bin/python docs/screenshots.py                        # the site of bin/run on http://127.0.0.1:8000/
    .venv/bin/python docs/screenshots.py --url http://127.0.0.1:8123 --labels 12

The accounts are the ones bin/run made (passwords from .env, or ADMIN_PASSWORD / ANNOTATOR_PASSWORD). The path:
the admin's dashboard (while bin/run still prepares the demo: its progress there, and nothing more), the priming page and the labelling page of the demo campaign (as demo1, demo2, demo3, each
labelling a few images so that the report has something to show), the report, and the summary CSV it downloads.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "images"
LABEL_KEYS = "1234"  # the labelling page's keys: creative, novel, not novel, inconclusive


def from_env_file(name: str) -> str:
    env = ROOT / ".env"
    if not env.is_file():
        return ""
    found = re.findall(rf"^{name}=(.*)$", env.read_text(), re.M)
    return found[-1] if found else ""


def password(name: str) -> str:
    return os.environ.get(name) or from_env_file(name)


def log_in(page, url: str, path: str, username: str, secret: str) -> None:
    page.goto(url + path)
    page.fill("#id_username", username)
    page.fill("#id_password", secret)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    if "/login/" in page.url:
        raise SystemExit(f"{username} could not log in at {url}{path}: check the password (.env)")


def shoot(page, name: str, full_page: bool = False) -> Path:
    """docs/images/tutorial-<name>.png, in 256 colours (a third of the bytes; the pages have few colours)."""
    from PIL import Image

    path = OUT / f"tutorial-{name}.png"
    page.screenshot(path=str(path), full_page=full_page, timeout=120_000)
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KB)")
    return path


def label(browser, url: str, username: str, secret: str, n: int, first: bool) -> None:
    """Label n images of the demo campaign as username (screenshots of the priming and labelling pages, first).
    bypass_csp: wait_for_function evaluates a string, which the site's policy forbids."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
    log_in(page, url, "/accounts/login/", username, secret)
    page.goto(url + "/annotate/")
    campaign = page.locator("li.campaign", has_text="Demo campaign").first.get_attribute("data-campaign")
    page.goto(f"{url}/annotate/{campaign}/")  # the priming page first, on a first visit
    start = page.locator("#start")
    if start.count():
        expect(page.locator("img.priming-grid")).to_be_visible(timeout=120_000)
        if first:
            page.evaluate("window.scrollTo(0, 0)")  # the instructions, then the grid
            shoot(page, "priming")
        start.click()
    for k in range(n):
        page.wait_for_function("document.getElementById('image') && document.getElementById('image').naturalWidth > 0"
                               " && !document.querySelector('.choice').disabled", timeout=120_000)
        if first and k == 0:
            shoot(page, "labelling")
        before = page.locator("#labeler").get_attribute("data-item")
        page.keyboard.press(LABEL_KEYS[k % 2])  # creative, novel: a report with two labels to compare
        page.wait_for_function(f"document.getElementById('labeler').dataset.item !== '{before}'"
                               " || !!document.querySelector('h1, h2') && /All done/.test(document.body.innerText)",
                               timeout=120_000)
    page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("SITE_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--labels", type=int, default=12, help="images each of demo1..demo3 labels")
    parser.add_argument("--first-annotator", type=int, default=1,
                        help="label as demo<N>, demo<N+1>, demo<N+2> (the priming page shows on a first visit only)")
    parser.add_argument("--csv-dir", default="", help="keep the downloaded CSV there (default: not kept)")
    args = parser.parse_args()
    url = args.url.rstrip("/")
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    admin_pw, annotator_pw = password("ADMIN_PASSWORD"), password("ANNOTATOR_PASSWORD")
    demo_pw = os.environ.get("DEMO_PASSWORD") or annotator_pw
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        admin = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=True)
        log_in(admin, url, "/admin/login/", "admin", admin_pw)
        if admin.locator("#demo-progress").count():
            shoot(admin, "demo-progress")
            print("The demo is still being prepared: run this again once bin/run says it is ready.")
            browser.close()
            return
        shoot(admin, "dashboard")
        first = args.first_annotator
        for i in range(first, first + 3):
            label(browser, url, f"demo{i}", demo_pw, args.labels, first=i == first)
        admin.goto(url + "/admin/")
        admin.get_by_role("link", name="Open the report").first.click()
        admin.wait_for_load_state()
        admin.evaluate("document.querySelector('#overview').scrollIntoView()")  # the figures and the CSV links
        shoot(admin, "report")
        with admin.expect_download() as download:
            admin.get_by_role("link", name="summary table").click()
        saved = download.value
        print(f"downloaded {saved.suggested_filename}")
        if args.csv_dir:
            target = Path(args.csv_dir) / saved.suggested_filename
            saved.save_as(str(target))
            print(f"kept it as {target}")
        browser.close()


if __name__ == "__main__":
    main()

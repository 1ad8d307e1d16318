"""Open an HTML report in headless Chromium (Debian's chromium + chromium-driver, driven by Selenium): which
images loaded, and a screenshot. Nothing is downloaded: the driver and the browser are the system's."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_HINT = "chromium and chromedriver not found on PATH (Debian/Ubuntu: apt-get install chromium chromium-driver)"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions")


@dataclass(frozen=True)
class LoadedImage:
    src: str  # as written in the HTML
    natural_width: int  # 0 when the browser could not load or decode it


def chromium_available() -> str | None:
    """None when headless Chromium can be driven here, else the reason it cannot."""
    return None if shutil.which("chromium") and shutil.which("chromedriver") else CHROMIUM_HINT


@contextmanager
def headless_chromium(width: int = 1100, height: int = 900) -> Iterator:
    """A Selenium Chrome driver on the system's chromium, with a fresh profile removed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    reason = chromium_available()
    if reason is not None:
        raise RuntimeError(reason)
    with tempfile.TemporaryDirectory(prefix="fiche-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))
        try:
            yield driver
        finally:
            driver.quit()


def report_images(driver, html_path: Path) -> list[LoadedImage]:
    """Open `html_path` and list every <img> with its natural width once the page has loaded."""
    driver.get(Path(html_path).resolve().as_uri())  # returns after the load event: every image has been fetched
    rows = driver.execute_script(
        "return Array.from(document.images, i => [i.getAttribute('src'), i.complete ? i.naturalWidth : 0]);")
    return [LoadedImage(src, int(width)) for src, width in rows]


def screenshot_element(driver, css_selector: str, png_path: Path) -> Path:
    """A PNG of the first element matching `css_selector` on the page the driver shows, the window grown to fit."""
    from selenium.webdriver.common.by import By

    height = driver.execute_script("return document.documentElement.scrollHeight;")
    driver.set_window_size(driver.get_window_size()["width"], height + 200)
    driver.find_element(By.CSS_SELECTOR, css_selector).screenshot(str(png_path))
    return Path(png_path)

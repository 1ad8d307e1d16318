"""The `fiche annotate` page, started as a user starts it, and what the browser tests do on it (Selenium)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ports import free_port

WAIT_S = 30


@contextmanager
def annotate_page(fiches: Path, *options: str) -> Iterator[str]:
    """`fiche annotate FICHES OPTIONS` on a free port, its log beside FICHES; yields the page's URL."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("fiche")), "annotate", str(fiches), "--port", str(port), *options]
    log_path = fiches.with_name(fiches.name + ".annotate.log")
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    urllib.request.urlopen(url, timeout=2)
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(log_path.read_text()) from None
                    time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def wait_for(driver, condition, message, seconds: float = WAIT_S):
    """condition()'s first true value within `seconds`; else fails with `message` (a string, or a function giving one)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, seconds).until(lambda _: condition())
    except TimeoutException:
        raise AssertionError(message() if callable(message) else message) from None


def text_of(driver, element_id: str) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id).text


def field(driver, element_id: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f"#{element_id} textarea, #{element_id} input")


def shown_fiche(driver) -> str | None:
    """The header's first line once a fiche is shown (not while an update is pending)."""
    first = text_of(driver, "annotate-header").split("\n")[0]
    return first if " — " in first or first.endswith("not annotatable") else None


def open_fiche(driver, url: str, fiche_id: str) -> None:
    """Load the page and move to `fiche_id` with Alt+→, one step at a time."""
    from selenium.webdriver.common.keys import Keys

    driver.get(url)
    wait_for(driver, lambda: shown_fiche(driver), "the page shows no fiche")
    for _ in range(6):
        shown = shown_fiche(driver)
        if shown.startswith(fiche_id + " "):
            return
        driver.find_element("tag name", "body").send_keys(Keys.ALT, Keys.ARROW_RIGHT)
        wait_for(driver, lambda before=shown: shown_fiche(driver) not in (None, before), "Alt+→ did not move on")
    raise AssertionError(f"{fiche_id} not reached: {text_of(driver, 'annotate-header')}")


def type_into(driver, element_id: str, text: str) -> None:
    from selenium.webdriver.common.keys import Keys

    box = field(driver, element_id)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    box.send_keys(text)
    box.send_keys(Keys.TAB)

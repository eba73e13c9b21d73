"""Debian's Chromium, driven headless through its chromedriver by selenium, for the tests
of the HTML pages (``bash scripts/chromium.sh`` installs both; no browser build is ever
downloaded). Without them the tests skip, except in CI (``CI=true``), where they fail."""

from __future__ import annotations

import io
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageChops
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chromium.remote_connection import ChromiumRemoteConnection
from selenium.webdriver.chromium.webdriver import ChromiumDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.client_config import ClientConfig
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def missing_chromium() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return (
                f"{path} not found (bash scripts/chromium.sh installs Debian's chromium "
                "and chromium-driver)"
            )
    return None


@dataclass
class Visit:
    """What loading a page did: the console's errors and every request the page made."""

    console_errors: list[str]
    requests: list[str]


class Browser:
    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver

    def open(self, url: str) -> Visit:
        self.driver.get_log("browser")  # drop what earlier pages logged
        self.driver.get_log("performance")
        self.driver.get(url)
        return self.visit()

    def visit(self) -> Visit:
        """The console errors and requests since the last call (or page load)."""
        errors = [
            e["message"]
            for e in self.driver.get_log("browser")
            if e["level"] in ("SEVERE", "ERROR")
        ]
        requests = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                requests.append(message["params"]["request"]["url"])
        return Visit(errors, requests)

    def select(self, form: str, key: str, value: str) -> None:
        element = self.driver.find_element(
            By.CSS_SELECTOR, f'form[data-table="{form}"] select[data-key="{key}"]'
        )
        Select(element).select_by_value(value)

    def type(self, form: str, key: str, text: str) -> None:
        element = self.driver.find_element(
            By.CSS_SELECTOR, f'form[data-table="{form}"] input[data-key="{key}"]'
        )
        element.clear()
        element.send_keys(text)

    def reset(self, form: str) -> None:
        self.driver.find_element(
            By.CSS_SELECTOR, f'form[data-table="{form}"] button[type="reset"]'
        ).click()

    def sort(self, table: str, column: str) -> str:
        """Click a column's sort button; the column's new aria-sort."""
        for th in self.driver.find_elements(By.CSS_SELECTOR, f"#{table} thead th"):
            if th.text.rstrip(" ▲▼") == column:
                th.find_element(By.TAG_NAME, "button").click()
                return str(th.get_attribute("aria-sort"))
        raise AssertionError(f"no column {column!r} in #{table}")

    def rows(self, table: str) -> list[dict[str, Any]]:
        """The rows a person sees, in order: data-* attributes and the cells' text."""
        rows: list[dict[str, Any]] = self.driver.execute_script(
            """
            return Array.from(document.getElementById(arguments[0]).tBodies[0].rows)
              .filter(r => !r.hidden && r.offsetParent !== null)
              .map(r => Object.assign({cells: Array.from(r.cells, c => c.innerText.trim())},
                                      r.dataset));""",
            table,
        )
        return rows

    def count_text(self, table: str) -> str:
        return str(self.driver.find_element(By.ID, f"{table}-count").text)

    def screenshot(self, dest: Path, width: int | None = None) -> Image.Image:
        """A PNG of the viewport (scaled down to ``width``), checked to show something."""
        image = Image.open(io.BytesIO(self.driver.get_screenshot_as_png())).convert("RGB")
        if width and image.width > width:
            image = image.resize(
                (width, round(image.height * width / image.width)), Image.Resampling.LANCZOS
            )
        assert_not_blank(image)
        dest.parent.mkdir(parents=True, exist_ok=True)
        # a palette keeps the README's pictures small
        image.quantize(colors=128).save(dest, optimize=True)
        assert_not_blank(Image.open(dest).convert("RGB"))
        return image


def assert_not_blank(image: Image.Image) -> None:
    """Content covers the picture and uses more than a couple of colours."""
    background = Image.new("RGB", image.size, image.getpixel((image.width - 1, image.height - 1)))
    box = ImageChops.difference(image, background).getbbox()
    assert box is not None, "blank screenshot"
    left, top, right, bottom = box
    assert (right - left) * (bottom - top) > 0.15 * image.width * image.height, box
    colors = image.getcolors(maxcolors=1 << 16)
    assert colors is None or len(colors) > 20, "a screenshot of almost one colour"


#: seconds one WebDriver command may take (selenium's Chrome class allows 120; starting
#: Chromium on a machine busy with other builds has taken longer)
COMMAND_TIMEOUT = 600


class _Chromium(ChromiumDriver):
    """Chrome's driver (its logs and CDP commands) on a chromedriver started here, with a
    longer command timeout than ``webdriver.Chrome`` gives."""

    def __init__(self, service: Service, options: webdriver.ChromeOptions) -> None:
        self.service = service
        executor = ChromiumRemoteConnection(
            service.service_url,
            vendor_prefix="goog",
            browser_name="chrome",
            ignore_proxy=True,
            client_config=ClientConfig(
                service.service_url, keep_alive=True, timeout=COMMAND_TIMEOUT
            ),
        )
        # ChromiumDriver.__init__ would start its own service with the 120 s timeout
        WebDriver.__init__(self, command_executor=executor, options=options)


def start_chromium(width: int = 1400, height: int = 1000) -> WebDriver:
    """Headless Chromium through Debian's chromedriver, logging the console and network."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    service = Service(CHROMEDRIVER)
    service.start()
    try:
        return _Chromium(service, options)
    except Exception:
        service.stop()
        raise


@pytest.fixture(scope="session", name="browser")
def chromium_browser() -> Iterator[Browser]:
    missing = missing_chromium()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    driver = start_chromium()
    try:
        yield Browser(driver)
    finally:
        driver.quit()

"""``habsburg viz`` in headless Chromium: load, Reset, Step, a slider + Reset, Play / Pause, a second
session, with no console errors and no failed or off-machine requests.

Skips without Chromium (Debian's ``chromium``) or Playwright, except when
``HABSBURG_REQUIRE_BROWSER=1`` (CI), where a missing browser fails. Playwright drives the system
Chromium; it never downloads a browser of its own. A screenshot is saved to ``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

CHROMIUM = Path(os.environ.get("HABSBURG_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
STATUS = re.compile(r"Step (\d+) of (\d+)")
#: generous: the first page load compiles Solara's templates; steps draw four figures each
LOAD_MS = 120_000
STEP_MS = 60_000


def require_browser() -> None:
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} not found (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed (pip install -e '.[dev]')"
    if problem:
        if os.environ.get("HABSBURG_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test required (HABSBURG_REQUIRE_BROWSER=1) but {problem}")
        pytest.skip(problem)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``habsburg viz`` on a free port of 127.0.0.1, stopped (its process group) at the end."""
    require_browser()
    port = free_port()
    log = tmp_path_factory.mktemp("viz") / "server.log"
    script = Path(sys.executable).with_name("habsburg")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "habsburg.cli"]
    env = {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False", "MPLBACKEND": "Agg"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*command, "viz", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"habsburg viz exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"habsburg viz did not answer on {url}:\n{log.read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


class Watched:
    """A page whose console errors, uncaught exceptions and failed or off-machine requests are
    collected (requests to anything but 127.0.0.1 are blocked and counted)."""

    def __init__(self, browser, url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1500, "height": 1100})
        self.page = self.context.new_page()
        self.problems: list[str] = []
        page = self.page
        page.on(
            "console",
            lambda m: (
                self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
            ),
        )
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on(
            "requestfailed",
            lambda r: self.problems.append(f"request failed: {r.url} ({r.failure})"),
        )
        page.on(
            "response",
            lambda r: (
                self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None
            ),
        )
        page.route(re.compile(r"^(?!http://127\.0\.0\.1[:/]|ws://127\.0\.0\.1[:/]).*"), self._block)
        page.goto(url)
        page.get_by_role("button", name="Reset").wait_for(timeout=LOAD_MS)
        self.wait_step(0)

    def _block(self, route) -> None:
        if not route.request.url.startswith(("data:", "blob:")):
            self.problems.append(f"off-machine request: {route.request.url}")
        route.abort()

    def step(self) -> int:
        text = self.page.get_by_text(STATUS).first.inner_text()
        return int(STATUS.search(text).group(1))

    def settled_step(self, every_ms: int = 4000) -> int:
        """The step once two reads ``every_ms`` apart agree."""
        last = self.step()
        for _ in range(15):
            self.page.wait_for_timeout(every_ms)
            now = self.step()
            if now == last:
                return now
            last = now
        raise AssertionError(f"the model keeps stepping (at {last}) after Pause")

    def wait_step(self, n: int) -> None:
        self.page.get_by_text(re.compile(rf"Step {n} of \d+")).first.wait_for(timeout=STEP_MS)

    def click(self, name: str) -> None:
        self.page.get_by_role("button", name=name, exact=True).click()

    def panel(self, index: int) -> bytes:
        """Pixels of the ``index``-th figure on the open page."""
        return self.page.locator(".vue-grid-item img").nth(index).screenshot()


@pytest.fixture
def first(server, browser):
    """The first session's page; on failure its screenshot and problems are kept for debugging."""
    watched = Watched(browser, server)
    yield watched
    ARTIFACTS.mkdir(exist_ok=True)
    watched.page.screenshot(path=ARTIFACTS / "viz-last.png", full_page=True)
    (ARTIFACTS / "viz-problems.txt").write_text("\n".join(watched.problems) + "\n")
    watched.context.close()


def test_explore_in_the_browser(server, browser, first):
    started = time.monotonic()
    page = first.page

    first.click("Reset")
    first.wait_step(0)
    network, shares = first.panel(0), first.panel(1)
    for n in (1, 2, 3):
        first.click("Step")
        first.wait_step(n)
    assert page.get_by_text("month 2020-03").count() == 1
    assert first.panel(0) != network  # the site network is redrawn for the new month
    assert first.panel(1) != shares  # the synthetic-share curve has three months

    # a slider, then Reset: the model is rebuilt with the value the slider shows
    slider = page.get_by_role("slider", name="Watermark adoption (mandate)")
    slider.focus()
    for _ in range(4):
        slider.press("ArrowRight")
        page.wait_for_timeout(300)
    page.wait_for_timeout(2000)  # the server's answer may still move the thumb
    adoption = float(slider.get_attribute("aria-valuenow"))
    assert adoption > 0
    first.click("Reset")
    first.wait_step(0)
    page.get_by_text(f"watermark adoption {adoption:g} ").first.wait_for(timeout=STEP_MS)

    # Play runs on by itself; Pause stops it
    first.click("▶")
    page.get_by_text(re.compile(r"Step ([2-9]|\d\d+) of")).first.wait_for(timeout=STEP_MS)
    first.click("❚❚")
    page.get_by_role("button", name="Step").and_(page.locator(":enabled")).wait_for(timeout=STEP_MS)
    paused_at = first.settled_step()  # a step under way when Pause was pressed may still land
    page.wait_for_timeout(4000)
    assert first.step() == paused_at >= 2

    # Mesa's render interval: one Step click runs many months, drawn once (for a telling screenshot)
    interval = page.get_by_role("slider", name="Render Interval (steps)")
    interval.focus()
    interval.press("End")
    page.wait_for_timeout(1500)
    jump = int(float(interval.get_attribute("aria-valuenow")))
    assert jump > 1
    first.click("Step")
    paused_at += jump
    first.wait_step(paused_at)
    page.get_by_text(re.compile(r"\d/\d+ models deployed")).first.wait_for(timeout=STEP_MS)

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "viz.png", full_page=True)
    page.get_by_role("tab", name="Page 1").click()
    page.get_by_text(STATUS).first.wait_for(state="detached", timeout=STEP_MS)  # page 0 is gone
    page.locator(".vue-grid-item img").nth(2).wait_for(timeout=STEP_MS)
    page.wait_for_timeout(1500)  # the tab's slide-in transition
    page.screenshot(path=ARTIFACTS / "viz-page1.png", full_page=True)
    page.get_by_role("tab", name="Page 0").click()
    first.wait_step(paused_at)

    # a second browser session has its own model: its steps never move the first one's
    second = Watched(browser, server)
    assert second.step() == 0
    second.click("Step")
    second.wait_step(1)
    assert first.step() == paused_at

    problems = first.problems + second.problems
    assert not problems, "\n".join(problems)
    second.context.close()
    print(f"browser test took {time.monotonic() - started:.1f} s (server already up)")

"""Browser tests of the web console: the real gateway on a live port (demo data, sharing rules,
audit and background workers on) driven by Debian's Chromium through Playwright.

One Chromium per test session; each person gets a browser context of their own (their own cookie
jar), as two people on two machines would. Without Chromium the tests skip, except under CI=true,
where they fail with the command that installs it (``make browser``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.app import create_app
from gateway.auth.demo import DEMO_PASSWORD
from gateway.demo import load_demo
from gateway.settings import Settings
from tests.support.databases import fresh_database
from tests.support.live import free_port, live_server

CHROMIUM = Path(os.environ.get("GATEWAY_TEST_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"Chromium is not installed at {CHROMIUM}: run `make browser` (apt-get install chromium chromium-driver)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed: pip install -e '.[dev]'"
    return None


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """One headless Chromium while the console's tests run.

    Package scope, not session: Playwright's sync API keeps an asyncio loop running on the main
    thread while it is open, and tests elsewhere that call ``asyncio.run`` (run after these when
    pytest groups the PostgreSQL half of the suite) would fail."""
    problem = _missing()
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    from playwright.sync_api import expect, sync_playwright

    # Live updates poll every 3 s and the machine may be busy: wait up to 15 s for what a person
    # would see (a test that fails still fails, just later).
    expect.set_options(timeout=15_000)

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Console:
    """A running gateway with the demo loaded, and how to reach it."""

    base: str
    settings: Settings
    app: Any

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="session")
def console(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The gateway on a fresh database of this run (per backend), demo data loaded, served live."""
    workdir = tmp_path_factory.mktemp(f"web-{backend}")
    port = free_port()
    with fresh_database(backend, workdir) as url:
        settings = Settings(
            database_url=url,
            base_url=f"http://127.0.0.1:{port}",
            var_dir=workdir / "var",
            key_dir=workdir / "keys",
        )
        load_demo(settings)
        app = create_app(settings)
        with live_server(app, port) as base:
            yield Console(base=base, settings=settings, app=app)


@pytest.fixture()
def people(browser: Any, console: Console) -> Iterator[Any]:
    """Make signed-in pages for demo people, each in a browser context of its own."""
    contexts: list[Any] = []

    def open_as(username: str, *, phone: bool = False) -> Any:
        context = browser.new_context(viewport=PHONE if phone else DESKTOP)
        context.set_default_timeout(30_000)
        contexts.append(context)
        page = context.new_page()
        sign_in(page, console, username)
        return page

    yield open_as
    for context in contexts:
        context.close()


@pytest.fixture()
def anonymous(browser: Any) -> Iterator[Any]:
    """A page in a fresh context with no cookies."""
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def sign_in(page: Any, console: Console, username: str) -> None:
    """Sign in through the gateway's login page, as the person would."""
    page.goto(console.url("/console"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/**")


def screenshot(page: Any, name: str) -> None:
    """Save the page at desktop and phone width into docs/screenshots/ (linked from the README)."""
    if os.environ.get("GATEWAY_SCREENSHOTS", "1") == "0":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    if size:
        page.set_viewport_size(size)

"""Browser-test fixtures: one headless Debian Chromium per module, a live tuneforge per test
over committed seeded data, an OpenAI emulator holding the running job's provider job, and a
screenshot helper writing under ``test-output/screenshots/``."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, ViewportSize, sync_playwright
from pydantic import SecretStr

from emulators.testing import EmulatorHandle, running_emulator
from providers.base import JobSpec
from service.db.database import Database
from service.jobs.lifecycle.adapters import operator_adapter
from service.settings import Settings
from tests.dashboard.eval_seed import SeededEval, seed_eval
from tests.dashboard.seed import Seeded, seed
from tests.live import live_api

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
LAPTOP: ViewportSize = {"width": 1366, "height": 860}
PHONE: ViewportSize = {"width": 390, "height": 844}
TRAINING_LINE = (
    b'{"messages": [{"role": "user", "content": "hi"}, '
    b'{"role": "assistant", "content": "hello"}]}\n'
)


@dataclass(frozen=True)
class Dashboard:
    base_url: str
    data: Seeded
    settings: Settings  # knows the emulator's address: what a worker process would have


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver: Playwright) -> Iterator[Browser]:
    chromium = playwright_driver.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def openai_emulator() -> Iterator[EmulatorHandle]:
    # Slow phases: the job stays in flight until the test cancels it.
    with running_emulator("openai", phase_seconds=600) as emulator:
        yield emulator


def _provider_job(settings: Settings) -> str:
    adapter = operator_adapter(settings, "openai")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.jsonl"
        path.write_bytes(TRAINING_LINE * 10)
        file_id = adapter.upload_dataset(path, "train.jsonl")
    created = adapter.create_job(
        JobSpec(tag="dashboard-test", model="gpt-4o-mini-2024-07-18", training_file=file_id)
    )
    return created.id


@pytest.fixture()
def dashboard(
    settings: Settings, committed_db: Database, openai_emulator: EmulatorHandle
) -> Iterator[Dashboard]:
    worker_settings = settings.model_copy(
        update={
            "openai_api_key": SecretStr("sk-emulated"),
            "openai_base_url": openai_emulator.sdk_base_url,
        }
    )
    provider_job_id = _provider_job(worker_settings)
    with committed_db.sessions() as session:
        data = seed(session, provider_job_id)
        session.commit()
    with live_api(settings, committed_db) as base_url:
        yield Dashboard(base_url=base_url, data=data, settings=worker_settings)


@pytest.fixture()
def seeded_eval(dashboard: Dashboard, committed_db: Database, settings: Settings) -> SeededEval:
    """A graded eval with a tuned and a base run, committed (``tests.dashboard.eval_seed``)."""
    with committed_db.sessions() as session:
        seeded = seed_eval(session, dashboard.data.succeeded_job_id, settings.wordnet_dir)
        session.commit()
    return seeded


@pytest.fixture()
def page(browser: Browser, dashboard: Dashboard) -> Iterator[Page]:
    context = browser.new_context(viewport=LAPTOP, base_url=dashboard.base_url)
    tab = context.new_page()
    tab.on("dialog", lambda dialog: dialog.accept())
    yield tab
    context.close()


def log_in(page: Page, key: str) -> None:
    page.goto("/admin/login")
    page.get_by_label("Admin API key").fill(key)
    page.get_by_role("button", name="Log in").click()


Screenshot = Callable[[Page, str], None]


@pytest.fixture()
def screenshot() -> Screenshot:
    """Save the page at laptop and phone width (full page) as ``<name>-laptop.png`` etc."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> None:
        for label, size in (("laptop", LAPTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            page.wait_for_timeout(150)  # let responsive charts re-layout
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
        page.set_viewport_size(LAPTOP)

    return take

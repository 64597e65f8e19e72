"""Firefox ESR tests: skipped with the reason when the browser, node or
puppeteer-core is missing (``make test`` installs all three)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.firefox.browser import Firefox, missing
from tests.server import Server


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = missing()
    if reason:
        for item in items:
            if "tests/firefox" in str(item.fspath):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """``callsfu serve`` for one test."""
    srv = Server(tmp_path)
    yield srv
    srv.stop()


@pytest.fixture
async def firefox() -> AsyncIterator[Firefox]:
    """Headless Firefox ESR, driven over WebDriver BiDi."""
    browser = await Firefox.launch()
    yield browser
    await browser.quit()

"""Firefox ESR tests: skipped with the reason when the browser, node or
puppeteer-core is missing (``make test`` installs all three)."""

from __future__ import annotations

import pytest

from tests.firefox.browser import missing


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = missing()
    if reason:
        for item in items:
            if "tests/firefox" in str(item.fspath):
                item.add_marker(pytest.mark.skip(reason=reason))

"""Browser tests: a real ``callsfu serve`` process and Debian's Chromium driven by
Playwright, everything on 127.0.0.1 (the suite runs in a loopback-only netns).

Each participant is its own Chromium (persistent context, own profile) whose
fake camera plays a generated solid-colour clip, so whose video is whose can
be told by colour.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.browser.support import ARTIFACTS, COLOURS, Server, write_y4m

CHROMIUM = os.environ.get("CALLSFU_CHROMIUM", "/usr/bin/chromium")

CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--allow-loopback-in-peer-connection",
    "--disable-quic",
]

try:
    from playwright.sync_api import BrowserContext, Page, Playwright, sync_playwright
except ImportError:  # pragma: no cover - the test extra installs it
    sync_playwright = None  # type: ignore[assignment]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = None
    if sync_playwright is None:
        missing = "playwright is not installed (pip install playwright)"
    elif not Path(CHROMIUM).exists():
        missing = f"no Chromium at {CHROMIUM}"
    if missing:
        for item in items:
            if "tests/browser" in str(item.fspath):
                item.add_marker(pytest.mark.skip(reason=missing))


# -- the server -------------------------------------------------------------------
@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One default server shared by the tests that need nothing special."""
    srv = Server(tmp_path_factory.mktemp("callsfu-server"))
    yield srv
    srv.stop()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start a server with extra flags (``--link-ttl 1`` ...); stopped at teardown."""
    servers: list[Server] = []

    def make(*extra: str) -> Server:
        srv = Server(tmp_path / f"server{len(servers)}", *extra)
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.stop()


# -- browsers -----------------------------------------------------------------------
@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    # package scope: Playwright's sync API keeps an event loop running in this
    # thread while it is started, which the asyncio tests elsewhere cannot share
    pw = sync_playwright().start()
    yield pw
    pw.stop()


@dataclass
class Participant:
    context: BrowserContext
    page: Page
    colour: tuple[int, int, int]
    name: str = ""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_FAILED] = report.failed


_FAILED = pytest.StashKey[bool]()

DIAGNOSE_JS = """() => {
  const c = window.callsfu;
  if (!c) return {url: location.href, hook: 'missing'};
  return {url: location.href, state: c.state,
          banners: [...document.querySelectorAll('.banner:not([hidden]), .toast')].map(e => e.textContent), reason: c.reason, selfId: c.selfId,
          participants: c.participants, tracks: c.tracks, tiles: c.tiles(),
          publishPc: c.publishPc && [c.publishPc.connectionState, c.publishPc.signalingState],
          subscribePc: c.subscribePc && [c.subscribePc.connectionState, c.subscribePc.signalingState,
            c.subscribePc.getTransceivers().map(t => [t.mid, t.currentDirection])]};
}"""


@pytest.fixture
def browsers(playwright: Playwright, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Participant]]:
    """``launch(colour_index)``: a new Chromium (own profile, own fake camera colour)."""
    launched: list[Participant] = []

    def launch(
        colour_index: int = 0,
        *,
        viewport: dict[str, int] | None = None,
        fake_video: bool = True,
        args_replace: dict[str, str] | None = None,
        **context_options: Any,
    ) -> Participant:
        """``args_replace``: Chromium flags to use instead of ours (by flag name,
        e.g. a fake device count); ``context_options``: Playwright's (locale...)."""
        n = len(launched)
        colour = COLOURS[colour_index % len(COLOURS)]
        args = [(args_replace or {}).get(a.split("=")[0], a) for a in CHROMIUM_ARGS]
        if fake_video:
            clip = write_y4m(tmp_path / f"camera{n}.y4m", colour)
            args.append(f"--use-file-for-fake-video-capture={clip}")
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / f"profile{n}"),
            executable_path=CHROMIUM,
            headless=True,
            args=args,
            viewport=viewport or {"width": 1100, "height": 720},
            **context_options,
        )
        context.set_default_timeout(15000)
        page = context.pages[0] if context.pages else context.new_page()
        logs: list[str] = []
        page.on("console", lambda m: logs.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: logs.append(f"pageerror: {e}"))
        page.console_log = logs  # type: ignore[attr-defined]
        p = Participant(context, page, colour)
        launched.append(p)
        return p

    yield launch
    if request.node.stash.get(_FAILED, False):
        # What each page thought, to tell a client bug from a media-plane one.
        for p in launched:
            try:
                print(f"--- page {p.name or '?'}: {p.page.evaluate(DIAGNOSE_JS)}")
            except Exception as exc:
                print(f"--- page {p.name or '?'}: (no state: {exc})")
            for line in getattr(p.page, "console_log", [])[-30:]:
                print("    console", line)
    for p in launched:
        try:
            p.context.close()
        except Exception:
            pass


@pytest.fixture(scope="session", autouse=True)
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS



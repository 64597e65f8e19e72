"""The pages that need no media path: creating and revoking a link, and what a
visitor sees for unknown, expired, revoked and full links."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

from playwright.sync_api import expect

from tests.browser.conftest import Participant
from tests.browser.support import ARTIFACTS, HeldSeat, Server, http, state, wait_until


def test_create_page_creates_shows_and_revokes_a_link(server: Server, browsers: Callable[..., Participant]) -> None:
    page = browsers().page
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="Start a call with a link")).to_be_visible()
    page.get_by_text("Audio call", exact=False).first.click()
    page.fill("#title", "Browser test call")
    page.click("#create-btn")

    url_box = page.locator("#link-url")
    expect(url_box).to_be_visible()
    url = url_box.input_value()
    # end-to-end encrypted by default: the page made the key and put it after #key=
    assert re.fullmatch(re.escape(server.url) + r"/call/[A-Za-z0-9_-]{22,}#key=[A-Za-z0-9_-]{43}", url), url
    token = url.split("#", 1)[0].rsplit("/", 1)[1]
    status, link = http("GET", f"{server.url}/api/links/{token}")
    assert status == 200 and link["type"] == "audio" and link["title"] == "Browser test call" and link["e2ee"] is True
    expect(page.locator("#result-e2ee")).to_be_visible()
    expect(page.locator("#result-e2ee-note")).to_contain_text("never sent to the server")

    # The expiry is shown, formatted in the browser's locale, 90 days out.
    expiry = page.locator("#link-expiry")
    expect(expiry).to_be_visible()
    shown = expiry.inner_text()
    year = link["expires_at"][:4]
    assert year in shown, (shown, link["expires_at"])
    expect(page.locator("#copy-btn")).to_be_visible()
    expect(page.locator("#join-btn")).to_have_attribute("href", url)
    expect(page.locator("#result-type")).to_have_text("Audio call")
    page.screenshot(path=str(ARTIFACTS / "create-page.png"), full_page=True)

    page.click("#revoke-btn")
    expect(page.locator("#result-notice")).to_contain_text("Link revoked")
    status, body = http("GET", f"{server.url}/api/links/{token}")
    assert status == 410 and body["error"]["code"] == "link_revoked"


def test_create_page_shows_the_servers_refusal(make_server: Callable[..., Server], browsers: Callable[..., Participant]) -> None:
    srv = make_server("--api-key", "s3cret-key")
    page = browsers().page
    page.goto(srv.url + "/")
    page.click("#create-btn")
    # Without the key the server refuses with a sentence: the page shows it.
    expect(page.locator("#create-error")).to_contain_text("Authorization: Bearer KEY")
    # The key field opens by itself; with the key it works, and revoking with
    # a wrong key shows that refusal too.
    expect(page.locator("#api-key")).to_be_visible()
    page.fill("#api-key", "s3cret-key")
    page.uncheck("#e2ee")  # the visible choice: a plain link has no key and says nothing about one
    page.click("#create-btn")
    expect(page.locator("#link-url")).to_be_visible()
    plain = page.locator("#link-url").input_value()
    assert "#" not in plain, plain
    assert http("GET", f"{srv.url}/api/links/{plain.rsplit('/', 1)[1]}")[1]["e2ee"] is False
    expect(page.locator("#result-e2ee")).to_be_hidden()
    page.fill("#api-key", "wrong-key")
    page.click("#revoke-btn")
    expect(page.locator("#result-notice")).to_contain_text("That API key is wrong")
    page.fill("#api-key", "s3cret-key")
    page.click("#revoke-btn")
    expect(page.locator("#result-notice")).to_contain_text("Link revoked")


def test_unknown_link_page(server: Server, browsers: Callable[..., Participant]) -> None:
    page = browsers().page
    page.goto(server.url + "/call/thisTokenDoesNotExist0123456789")
    expect(page.locator("#msg-title")).to_have_text("This call link doesn't exist")
    expect(page.locator("#view-message")).to_contain_text("Check that you have the whole link")
    assert state(page) == "unavailable"


def test_expired_link_page(make_server: Callable[..., Server], browsers: Callable[..., Participant]) -> None:
    srv = make_server("--link-ttl", "1")
    token = srv.create_link("video")["token"]
    time.sleep(1.2)
    page = browsers().page
    page.goto(f"{srv.url}/call/{token}?name=Late&autojoin=1")
    expect(page.locator("#msg-title")).to_have_text("This call link has expired")
    expect(page.locator("#view-message")).to_contain_text("ask the host for a new link")


def test_revoked_link_page(server: Server, browsers: Callable[..., Participant]) -> None:
    token = server.create_link("video")["token"]
    server.revoke(token)
    page = browsers().page
    page.goto(f"{server.url}/call/{token}")
    expect(page.locator("#msg-title")).to_have_text("This call link was revoked")
    expect(page.locator("#view-message")).to_contain_text("This link was revoked by its host. Ask them for a new link.")


def test_full_call_page(make_server: Callable[..., Server], browsers: Callable[..., Participant]) -> None:
    srv = make_server("--max-participants", "1")
    token = srv.create_link("audio")["token"]
    seat = HeldSeat(srv.url, token, "First")
    try:
        page = browsers().page
        page.goto(f"{srv.url}/call/{token}?name=Second&autojoin=1")
        expect(page.locator("#msg-title")).to_have_text("This call is full")
        expect(page.locator("#view-message")).to_contain_text(
            "This call is full (1 of 1). Try again when someone leaves."
        )
        expect(page.locator("#retry-btn")).to_be_visible()
        assert state(page) == "full"
    finally:
        seat.close()
    # Once the seat is free, "Try again" gets in.
    wait_until(lambda: http("GET", f"{srv.url}/api/links/{token}")[1]["participants"] == 0, 10, what="seat released")
    page.click("#retry-btn")
    wait_until(lambda: state(page) in ("connecting", "connected"), 10, what="joined after retry")
    expect(page.locator("#view-call")).to_be_visible()


def test_lobby_then_revoked_while_in_call(server: Server, browsers: Callable[..., Participant]) -> None:
    link = server.create_link("audio", "Revoke me")
    page = browsers(fake_video=False).page
    page.goto(link["url"])
    expect(page.locator("#lobby-title")).to_have_text("Revoke me")
    expect(page.locator("#lobby-type")).to_contain_text("Audio call")
    page.fill("#name", "Ada Lovelace")
    page.screenshot(path=str(ARTIFACTS / "lobby.png"))
    page.click("#join-btn")
    wait_until(lambda: state(page) in ("connecting", "connected"), 10, what="in the call")
    expect(page.locator("#count")).to_have_attribute("aria-label", "1 of 32 participants")
    expect(page.locator(".tile.self")).to_have_attribute("data-name", "Ada Lovelace")
    server.revoke(link["token"])
    expect(page.locator("#view-message")).to_contain_text("The host ended this call by revoking the link")
    assert state(page) == "ended"
    # The name is remembered for next time.
    page.goto(server.create_link("audio")["url"])
    expect(page.locator("#name")).to_have_value("Ada Lovelace")


def test_dropped_connection_rejoins_by_itself(make_server: Callable[..., Server], browsers: Callable[..., Participant]) -> None:
    srv = make_server()
    link = srv.create_link("audio", "Flaky network")
    page = browsers(fake_video=False).page
    page.goto(link["url"] + "?name=Persistent&autojoin=1")
    wait_until(lambda: state(page) == "connected", 15, what="connected")
    first_id = page.evaluate("() => window.callsfu.selfId")
    srv.stop()  # every socket and media connection drops
    wait_until(lambda: state(page) == "reconnecting", 10, what="reconnecting")
    expect(page.locator("#conn")).to_have_text("Reconnecting…")
    expect(page.locator("#banner")).to_contain_text("Reconnecting…")
    srv.start()
    wait_until(lambda: state(page) == "connected", 20, what="connected again")
    expect(page.locator("#banner")).to_be_hidden()
    assert page.evaluate("() => window.callsfu.selfId") != first_id  # a new join, a new seat
    assert http("GET", f"{srv.url}/api/links/{link['token']}")[1]["participants"] == 1


def test_leave_and_rejoin(server: Server, browsers: Callable[..., Participant]) -> None:
    link = server.create_link("audio")
    page = browsers(fake_video=False).page
    page.goto(link["url"] + "?name=Boomerang&autojoin=1")
    wait_until(lambda: state(page) == "connected", 15, what="connected")
    page.click("#leave-btn")
    expect(page.locator("#msg-title")).to_have_text("You left the call")
    wait_until(lambda: http("GET", f"{server.url}/api/links/{link['token']}")[1]["participants"] == 0, 5, what="seat freed")
    page.click("#rejoin-btn")  # straight back in, under the same name
    wait_until(lambda: state(page) == "connected", 15, what="connected again")
    expect(page.locator(".tile.self")).to_have_attribute("data-name", "Boomerang")
    expect(page.locator("#count")).to_have_attribute("aria-label", "1 of 32 participants")


# -- issue 9: the pages under their Content-Security-Policy ------------------------------
CSP_WATCH = """() => {
  window.__csp = [];
  document.addEventListener('securitypolicyviolation',
    (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
}"""


def csp_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    logged = [line for line in getattr(page, "console_log", []) if "Content Security Policy" in line]
    return list(page.evaluate("() => window.__csp || []")) + logged


def test_create_and_call_pages_work_under_their_csp(server: Server, browsers: Callable[..., Participant]) -> None:
    page = browsers().page
    page.add_init_script(f"({CSP_WATCH})()")
    page.goto(server.url + "/")
    page.fill("#title", "Under CSP")
    page.click("#create-btn")
    expect(page.locator("#link-url")).to_be_visible()
    url = page.locator("#link-url").input_value()
    assert csp_violations(page) == []
    assert "#key=" in url  # end-to-end encrypted by default: the worker and WebCrypto run under the CSP too
    base, fragment = url.split("#", 1)
    page.goto(f"{base}?name=Strict&autojoin=1#{fragment}")
    wait_until(lambda: state(page) == "connected", 20, what="connected under the CSP")
    wait_until(lambda: page.evaluate("() => window.callsfu.e2ee && window.callsfu.e2ee.totals.encrypted") > 0, 10, what="frames encrypted in the worker")
    expect(page.locator(".tile.self")).to_have_attribute("data-name", "Strict")
    # the WebSocket (connect-src) and the camera preview (media) were allowed; nothing was blocked
    assert csp_violations(page) == []


def test_a_bad_percent_escape_shows_the_unknown_link_page(server: Server, browsers: Callable[..., Participant]) -> None:
    page = browsers().page
    for path in ["/call/%E0%A4%A", "/call/abc%zz", "/call/%"]:
        page.goto(server.url + path)
        expect(page.locator("#msg-title")).to_have_text("This call link doesn't exist")
        assert state(page) == "unavailable"
    assert not [line for line in page.console_log if line.startswith("pageerror")]  # type: ignore[attr-defined]


@contextlib.contextmanager
def embedding_site(html: str) -> Iterator[str]:
    """A plain HTTP server on another loopback port answering ``html`` to everything."""

    class Embedder(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    site = ThreadingHTTPServer(("127.0.0.1", 0), Embedder)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}/"
    finally:
        site.shutdown()
        site.server_close()


def test_another_site_cannot_frame_the_call_page(server: Server, browsers: Callable[..., Participant]) -> None:
    token = server.create_link("audio")["token"]
    other = HeldSeat(server.url, token, "Watcher")  # someone in the call: an autojoin would show in the count
    try:
        page = browsers(fake_video=False).page
        html = f'<iframe allow="camera; microphone" src="{server.url}/call/{token}?name=Framed&autojoin=1"></iframe>'
        with embedding_site(html) as embedder:  # another origin: same address, another port
            page.goto(embedder)
            page.wait_for_timeout(2000)  # give a framed page time to load and join, were it allowed to
            assert len(page.frames) == 2
            assert page.frames[1].evaluate("() => typeof window.callsfu") == "undefined"  # it never ran
        assert http("GET", f"{server.url}/api/links/{token}")[1]["participants"] == 1  # only the watcher
    finally:
        other.close()


def test_a_name_with_a_bidi_override_is_refused_in_the_lobby(server: Server, browsers: Callable[..., Participant]) -> None:
    link = server.create_link("audio")
    page = browsers(fake_video=False).page
    page.goto(link["url"])
    page.fill("#name", "Ann\u202eevil")
    page.click("#join-btn")
    expect(page.locator("#lobby-error")).to_contain_text("The field 'name' contains U+202E at position 3")
    assert state(page) == "lobby"
    page.fill("#name", "Ann")  # fixed: in it goes
    page.click("#join-btn")
    wait_until(lambda: state(page) in ("connecting", "connected"), 10, what="joined with a clean name")

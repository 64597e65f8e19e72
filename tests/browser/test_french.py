"""The call page in French (?lang=fr, and a French browser locale): the
visible text of the lobby, the call (alone, invite and devices panels), the
left and unknown-link pages holds no English string of ours; the link's
expiry date is written the French way."""

from __future__ import annotations

import re
from typing import Any, Callable

import pytest

from tests.browser.conftest import Participant
from tests.browser.support import Server, state, wait_until

# every visible text: rendered text, and the title / placeholder / aria-label of rendered elements
VISIBLE_TEXT_JS = """() => {
  const out = [document.title, document.body.innerText];
  for (const el of document.querySelectorAll('[title], [placeholder], [aria-label]')) {
    if (!el.getClientRects().length) continue;
    for (const a of ['title', 'placeholder', 'aria-label']) if (el.getAttribute(a)) out.push(el.getAttribute(a));
  }
  return out.join('\\n');
}"""

CATALOGUE_JS = """async () => {
  const { STRINGS } = await import('/static/strings.js');
  const en = Object.entries(STRINGS.en).filter(([k, v]) => typeof v === 'string' && STRINGS.fr[k] !== v).map(([k, v]) => v);
  return [en, Object.values(STRINGS.fr).filter((v) => typeof v === 'string').join('\\n')];
}"""

FRENCH_MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"]


def has(text: str, piece: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(piece) + r"(?!\w)", text) is not None


def english_pieces(strings: list[str], french: str) -> list[str]:
    """The literal parts of our English strings long enough to tell (placeholders
    cut out), less the words French shares ("participants")."""
    pieces = set()
    for s in strings:
        for part in re.split(r"\{\w+\}", s):
            part = part.strip(" .·:()…")
            if len(part) >= 5 and not has(french, part):
                pieces.add(part)
    return sorted(pieces)


def collect(page: Any) -> str:
    return str(page.evaluate(VISIBLE_TEXT_JS))


@pytest.mark.parametrize("how", ["query", "locale"])
def test_the_french_page_has_no_english_left(server: Server, browsers: Callable[..., Participant], how: str) -> None:
    link = server.create_link("video", "Réunion de famille")
    if how == "query":
        p = browsers(1)  # an English browser, French forced by ?lang=fr
        suffix = "?lang=fr"
    else:
        p = browsers(1, locale="fr-FR")
        suffix = "?"
    page = p.page
    seen: list[str] = []
    page.goto(link["url"] + suffix)
    page.wait_for_selector("#lobby-videoinput")
    assert page.evaluate("() => document.documentElement.lang") == "fr"
    seen.append(collect(page))
    # the expiry, in French
    year, month, day = (int(x) for x in link["expires_at"][:10].split("-"))
    expiry = page.locator("#lobby-expiry").inner_text()
    assert FRENCH_MONTHS[month - 1] in expiry and str(year) in expiry, expiry
    assert "Rejoindre l’appel" in seen[-1]

    page.fill("#name", "Ana")
    page.click("#join-btn")
    wait_until(lambda: state(page) == "connected", 20, what="connected")
    page.wait_for_selector("#alone-url")
    seen.append(collect(page))
    assert "Vous êtes la seule personne ici" in seen[-1]
    page.click("#invite-btn")
    seen.append(collect(page))
    page.click("#invite-close")
    page.click("#devices-btn")
    page.wait_for_selector("#call-videoinput")
    seen.append(collect(page))
    page.click("#devices-close")
    page.click("#mic-btn")  # muted: the button's other label
    page.click("#cam-btn")
    seen.append(collect(page))
    page.click("#leave-btn")
    page.wait_for_selector("#rejoin-btn")
    seen.append(collect(page))
    assert "Vous avez quitté l’appel" in seen[-1]
    page.goto(server.url + "/call/nope" + suffix)
    page.wait_for_selector("#msg-title")
    wait_until(lambda: page.locator("#msg-title").inner_text() != "", 5, what="the unknown-link page")
    seen.append(collect(page))

    english = english_pieces(*page.evaluate(CATALOGUE_JS))
    assert len(english) > 80  # the catalogue is there
    text = "\n".join(seen)
    left = [e for e in english if has(text, e)]
    assert left == [], (left, text)

// Call page: tell the server which videos this page shows (`view`,
// docs/protocol.md), so it does not send the others: a tile scrolled out of
// sight, every tile while the page is hidden. Camera tiles are the grid's
// (grid.js), shared screens those of screens.js (source "screen"). Each visible tile is listed with
// its size in CSS pixels (for the simulcast layer it needs). Sent when the set
// or the sizes change (IntersectionObserver, ResizeObserver, page visibility),
// at most every DEBOUNCE_MS, and again after each (re)join.
import { onCall } from "./call-hooks.js";

const DEBOUNCE_MS = 150;
const MAX_TILES = 64; // the server's bound on a view

let client = null;
let lastSent = null; // the JSON of the last view sent on this session
let timer = null;
const visible = new Set(); // tile elements at least partly on screen
const watched = new WeakSet();

const intersections = new IntersectionObserver((entries) => {
  for (const e of entries) {
    if (e.isIntersecting) visible.add(e.target); else visible.delete(e.target);
  }
  schedule();
}, { threshold: [0, 0.01] });

const resizes = new ResizeObserver(() => schedule());

const TILES = "#grid .tile:not(.self), #screens .screen-tile:not(.self)";

function watchTiles() {
  for (const el of document.querySelectorAll(TILES)) {
    if (watched.has(el)) continue;
    watched.add(el);
    intersections.observe(el);
    resizes.observe(el);
  }
  for (const el of [...visible]) if (!el.isConnected) visible.delete(el);
}

new MutationObserver(() => { watchTiles(); schedule(); }).observe(document.body, { childList: true, subtree: true });
document.addEventListener("visibilitychange", () => schedule());

function schedule() {
  if (timer !== null) return;
  timer = setTimeout(() => { timer = null; send(); }, DEBOUNCE_MS);
}

/** The view to send now: every visible remote tile with video, unless the page is hidden. */
export function currentView() {
  const videos = [];
  if (document.visibilityState === "hidden") return videos;
  const seen = new Set();
  for (const el of visible) {
    const screen = el.classList.contains("screen-tile");
    const pid = screen ? el.dataset.sharerId : el.dataset.participantId;
    if (!pid || !el.isConnected || el.offsetParent === null || !el.querySelector("video")) continue;
    const key = (screen ? "screen:" : "camera:") + pid;
    if (seen.has(key)) continue;
    seen.add(key);
    const r = el.getBoundingClientRect();
    const width = Math.max(1, Math.min(16384, Math.round(r.width)));
    const height = Math.max(1, Math.min(16384, Math.round(r.height)));
    videos.push(screen ? { participant_id: pid, source: "screen", width, height } : { participant_id: pid, width, height });
    if (videos.length >= MAX_TILES) break;
  }
  // the largest first (simulcast favours the first tile of a view when bandwidth is short)
  videos.sort((a, b) => b.width * b.height - a.width * a.height || (a.participant_id < b.participant_id ? -1 : 1));
  return videos;
}

function send() {
  if (!client || !client.video || !client.welcomed) return;
  watchTiles();
  // nothing on the page yet (just welcomed): no view, rather than one that
  // pauses every video the server is about to start
  if (lastSent === null && document.visibilityState !== "hidden" && !document.querySelector(TILES)) return;
  const msg = { type: "view", videos: currentView() };
  const text = JSON.stringify(msg);
  if (text === lastSent) return;
  if (client.send(msg)) lastSent = text;
}

onCall((c) => {
  client = c;
  lastSent = null;
  c.on("welcome", () => { lastSent = null; schedule(); }); // a new session knows no view yet
  c.on("media", () => { watchTiles(); schedule(); });
});

window.callsfuView = { current: currentView, get lastSent() { return lastSent ? JSON.parse(lastSent) : null; } };

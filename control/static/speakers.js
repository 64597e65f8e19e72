// Call page: who speaks, as the server says (`speakers`, docs/protocol.md).
// The first speaker's tile is highlighted (class "dominant"), everyone the
// server lists gets the speaking ring ("server-speaking"), and the most
// recent speakers move to the front of the grid (CSS order only: grid.js
// owns the tiles), so they stay among the visible ones on a small screen.
import { onCall } from "./call-hooks.js";

const RECENT = 4; // speakers kept at the front of the grid, most recent first

let recent = []; // participant ids, most recent speaker first
let current = [];

function grid() { return document.getElementById("grid"); }

function apply() {
  const g = grid();
  if (!g) return;
  const rank = new Map(recent.map((pid, i) => [pid, i]));
  for (const el of g.querySelectorAll(".tile")) {
    if (el.classList.contains("self")) { el.style.order = String(-RECENT - 1); continue; }
    const pid = el.dataset.participantId;
    el.classList.toggle("server-speaking", current.includes(pid));
    el.classList.toggle("dominant", current[0] === pid);
    el.style.order = rank.has(pid) ? String(rank.get(pid) - RECENT) : "";
  }
}

/** A `speakers` message: remember who spoke last, then redraw the highlights. */
export function onSpeakers(speakers) {
  if (!Array.isArray(speakers)) return;
  current = speakers.filter((p) => typeof p === "string");
  // the loudest ends up first: add in reverse
  for (const pid of [...current].reverse()) recent = [pid, ...recent.filter((p) => p !== pid)];
  recent = recent.slice(0, RECENT);
  apply();
}

/** The recent speakers, most recent first (view.js keeps their tiles wanted). */
export function recentSpeakers() { return [...recent]; }

onCall((client) => {
  recent = [];
  current = [];
  client.on("message", (msg) => { if (msg && msg.type === "speakers") onSpeakers(msg.speakers); });
  client.on("participants", (participants) => {
    recent = recent.filter((pid) => participants.has(pid));
    current = current.filter((pid) => participants.has(pid));
    queueMicrotask(apply); // after grid.js has drawn the change
  });
  client.on("media", () => queueMicrotask(apply));
});

window.callsfuSpeakers = { get current() { return [...current]; }, get recent() { return [...recent]; } };

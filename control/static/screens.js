// Call page: screen sharing. The Share screen button (getDisplayMedia), sent as
// a second video of the publish connection (CallClient.setScreen); every shared
// screen (ours and the others') is shown large above the grid, with the
// sharer's name. The browser's own "Stop sharing" ends it too.
import { onCall } from "./call-hooks.js";
import { $, S, isVideoCall, toast } from "./ui.js";
import { t } from "./i18n.js";

let screenTrack = null;
let current = null; // the CallClient

export function canShare() {
  return isVideoCall() && !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
}

function updateButton() {
  const btn = $("share-btn");
  btn.hidden = !canShare();
  const on = !!screenTrack;
  btn.setAttribute("aria-pressed", String(on));
  $("share-txt").textContent = t(on ? "share.stop" : "share.start");
  btn.title = t(on ? "share.stopTitle" : "share.startTitle");
}

async function startSharing() {
  let stream;
  try {
    stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
  } catch (err) {
    if (err && err.name !== "NotAllowedError" && err.name !== "AbortError") toast(t("share.failed", { error: err.name || String(err) }));
    return;
  }
  const track = stream.getVideoTracks()[0];
  if (!track || !current) { for (const t of stream.getTracks()) t.stop(); return; }
  try { track.contentHint = "detail"; } catch (_) { /* older browsers */ }
  screenTrack = track;
  track.addEventListener("ended", () => { if (screenTrack === track) stopSharing(); }); // the browser's own "Stop sharing"
  updateButton();
  await current.setScreen(track);
  renderScreens();
}

export async function stopSharing() {
  const track = screenTrack;
  screenTrack = null;
  if (track) track.stop();
  updateButton();
  if (current) {
    try { await current.setScreen(null); } catch (_) { /* closed */ }
  }
  renderScreens();
}

$("share-btn").addEventListener("click", () => (screenTrack ? stopSharing() : startSharing()));

function screenTile(key) {
  let el = $("screens").querySelector(`.screen-tile[data-key="${CSS.escape(key)}"]`);
  if (el) return el;
  el = document.createElement("div");
  el.className = "screen-tile";
  el.dataset.key = key;
  const v = document.createElement("video");
  v.autoplay = true; v.playsInline = true; v.muted = true;
  el.appendChild(v);
  const label = document.createElement("div");
  label.className = "label";
  el.appendChild(label);
  $("screens").appendChild(el);
  return el;
}

function setVideo(el, track) {
  if (el._track === track) return;
  el._track = track;
  const v = el.querySelector("video");
  v.srcObject = track ? new MediaStream([track]) : null;
  if (track) v.play().catch(() => {});
}

/** The shared screens: ours first, then the others' (from the client's media map). */
export function renderScreens(media) {
  const box = $("screens");
  const client = current;
  const want = new Map();
  if (screenTrack && client) want.set("self", { pid: client.selfId || "self", name: t("share.yours"), track: screenTrack, mid: "" });
  if (client) {
    for (const [pid, m] of media || client.remoteMedia()) {
      if (!m.screen) continue;
      const name = client.participants.get(pid) || t("grid.guest");
      want.set(pid, { pid, name: t("share.theirs", { name }), track: m.screen.receiver ? m.screen.receiver.track : null, mid: m.screen.mid });
    }
  }
  for (const el of [...box.children]) if (!want.has(el.dataset.key)) { setVideo(el, null); el.remove(); }
  for (const [key, s] of want) {
    const el = screenTile(key);
    el.dataset.sharerId = s.pid;
    el.dataset.mid = s.mid;
    el.classList.toggle("self", key === "self");
    el.querySelector(".label").textContent = s.name;
    setVideo(el, s.track);
  }
  box.hidden = want.size === 0;
  box.dataset.count = String(want.size);
  $("stage").classList.toggle("sharing", want.size > 0);
}

/** For the test hook: the screens shown. */
export function screenInfo() {
  return [...$("screens").children].map((el) => ({
    participant_id: el.dataset.sharerId, self: el.classList.contains("self"),
    name: el.querySelector(".label").textContent, mid: el.dataset.mid || null,
  }));
}

onCall((client) => {
  current = client;
  if (screenTrack) client.setLocalTracks({ ...client.localTracks(), screen: screenTrack }); // a rejoin keeps sharing
  client.on("media", (media) => { if (client === current) renderScreens(media); });
  client.on("participants", () => { if (client === current) renderScreens(); });
  client.on("state", ({ state }) => {
    if (state === "closed" && client === current) {
      current = null;
      if (screenTrack) { screenTrack.stop(); screenTrack = null; }
      updateButton();
      renderScreens(new Map());
    }
  });
  updateButton();
});

// Call page: the grid of tiles (one per participant), their video and audio
// elements, and what decides whether a tile shows video and a speaking ring.
import { $, ICONS, S, callMax, colourFor, initials, isVideoCall } from "./ui.js";
import { meter } from "./lobby.js";
import { t } from "./i18n.js";

const SPEAK_THRESHOLD = 0.03; // linear audio level, about -30 dBov
const SPEAK_HOLD_MS = 450;
const VIDEO_STALL_MS = 2500; // no decoded frame for this long: show the avatar instead

const videoFrames = new Map(); // mid -> {frames, changedAt}
const statsLevels = new Map(); // mid -> audioLevel from getStats
const speakingUntil = new Map(); // participant id (or "self") -> time
let localStatsLevel = 0; // from the publish connection's media-source stats
let lastMedia = new Map();

export function remoteTiles() {
  return [...$("grid").querySelectorAll(".tile:not(.self)")];
}

export function selfTile() { return $("grid").querySelector(".tile.self"); }

function removeTile(el) {
  for (const m of el.querySelectorAll("video, audio")) { m.srcObject = null; }
  el.remove();
}

export function clearRemote() {
  videoFrames.clear();
  statsLevels.clear();
  lastMedia = new Map();
  for (const el of remoteTiles()) removeTile(el);
  updateCount(0);
}

export function makeTile(pid, name, withVideo) {
  const el = document.createElement("div");
  el.className = "tile";
  el.dataset.participantId = pid;
  el.dataset.name = name;
  if (withVideo) {
    const v = document.createElement("video");
    v.autoplay = true; v.playsInline = true; v.muted = true;
    el.appendChild(v);
  }
  const layer = document.createElement("div");
  layer.className = "avatar-layer";
  const av = document.createElement("div");
  av.className = "avatar";
  av.textContent = initials(name);
  av.style.background = colourFor(name);
  layer.appendChild(av);
  el.appendChild(layer);
  const label = document.createElement("div");
  label.className = "label";
  label.innerHTML = '<span class="speak-dot"></span><span class="name"></span><span class="mic-off"></span>';
  label.querySelector(".mic-off").title = t("grid.micOff");
  label.querySelector(".mic-off").innerHTML = ICONS.micOff;
  label.querySelector(".name").textContent = name;
  el.appendChild(label);
  return el;
}

function setTileName(el, name) {
  if (el.dataset.name === name) return;
  el.dataset.name = name;
  el.querySelector(".label .name").textContent = name;
  const av = el.querySelector(".avatar");
  av.textContent = initials(name);
  av.style.background = colourFor(name);
}

export function resetGrid(selfId) {
  const grid = $("grid");
  grid.textContent = "";
  grid.classList.toggle("audio", !isVideoCall());
  clearRemote();
  const el = makeTile(selfId || "self", S.name, isVideoCall());
  el.classList.add("self");
  el.dataset.self = "true";
  el.querySelector(".label .name").textContent = t("grid.you", { name: S.name });
  grid.appendChild(el);
  updateSelfVideo();
}

/** The self view shows the current camera (after a device switch too). */
export function updateSelfVideo() {
  const el = selfTile();
  const v = el && el.querySelector("video");
  if (!v) return;
  const vt = S.localStream && S.localStream.getVideoTracks()[0];
  if (v._track === vt) return;
  v._track = vt;
  v.srcObject = vt ? new MediaStream([vt]) : null;
  el.classList.toggle("has-video", !!vt && S.camOn);
}

/** Play every remote audio on the chosen speaker (where the browser can). */
export function applySpeaker(audio) {
  const els = audio ? [audio] : [...document.querySelectorAll(".tile audio")];
  for (const a of els) {
    if (S.devices.audiooutput && typeof a.setSinkId === "function" && a.sinkId !== S.devices.audiooutput) {
      a.setSinkId(S.devices.audiooutput).catch(() => { /* gone meanwhile */ });
    }
  }
}

/** Draw the others from the client's participants and media (participant id -> {audio, video}). */
export function render(client, media = lastMedia) {
  lastMedia = media;
  const grid = $("grid");
  const wanted = new Map(client.participants);
  for (const pid of media.keys()) {
    if (!wanted.has(pid) && !client.gone.has(pid)) wanted.set(pid, t("grid.guest"));
  }
  const existing = new Map(remoteTiles().map((el) => [el.dataset.participantId, el]));
  for (const [pid, el] of existing) if (!wanted.has(pid)) removeTile(el);
  for (const [pid, name] of wanted) {
    let el = existing.get(pid);
    if (!el) {
      el = makeTile(pid, name, isVideoCall());
      grid.appendChild(el);
    }
    setTileName(el, name);
    const m = media.get(pid) || {};
    attachVideo(el, m.video);
    attachAudio(el, m.audio);
    el.dataset.kind = m.video ? "video" : "audio";
    el.dataset.mid = m.video ? m.video.mid : m.audio ? m.audio.mid : "";
    el.dataset.audioMid = m.audio ? m.audio.mid : "";
    el.dataset.videoMid = m.video ? m.video.mid : "";
  }
  updateCount(client.participants.size);
  refreshVideoVisibility();
}

function attachVideo(el, v) {
  const video = el.querySelector("video");
  if (!video) return;
  const track = v && v.receiver ? v.receiver.track : null;
  if (el._videoTrack === track && el._videoMid === (v && v.mid)) return;
  el._videoTrack = track;
  el._videoMid = v ? v.mid : null;
  video.srcObject = track ? new MediaStream([track]) : null;
  if (track) video.play().catch(() => { /* muted video always plays */ });
}

function attachAudio(el, a) {
  const track = a && a.receiver ? a.receiver.track : null;
  if (el._audioTrack === track && el._audioMid === (a && a.mid)) return;
  el._audioTrack = track;
  el._audioMid = a ? a.mid : null;
  el._audioReceiver = a ? a.receiver : null;
  let audio = el.querySelector("audio");
  if (!track) { if (audio) { audio.srcObject = null; audio.remove(); } return; }
  if (!audio) {
    audio = document.createElement("audio");
    audio.autoplay = true;
    el.appendChild(audio);
    applySpeaker(audio);
  }
  audio.srcObject = new MediaStream([track]);
  audio.play().catch(() => { $("sound-btn").hidden = false; });
}

$("sound-btn").addEventListener("click", () => {
  for (const a of document.querySelectorAll(".tile audio")) a.play().catch(() => {});
  $("sound-btn").hidden = true;
});

export function updateCount(others) {
  const grid = $("grid");
  const n = others + 1;
  const max = callMax();
  $("count").innerHTML = "";
  const strong = document.createElement("span");
  strong.textContent = t("grid.count", { n, max });
  const long = document.createElement("span");
  long.className = "long";
  long.textContent = t("grid.countLong");
  $("count").append(strong, long);
  $("count").title = t("grid.countLabel", { n, max });
  $("count").setAttribute("aria-label", t("grid.countLabel", { n, max }));
  grid.dataset.count = String(grid.children.length);
}

// A remote tile shows its video while frames are being decoded, its avatar otherwise.
function refreshVideoVisibility() {
  const now = performance.now();
  for (const el of remoteTiles()) {
    const mid = el.dataset.videoMid;
    const f = mid ? videoFrames.get(mid) : null;
    el.classList.toggle("has-video", !!(f && f.frames > 0 && now - f.changedAt < VIDEO_STALL_MS));
  }
}

async function pollStats() {
  const client = S.client;
  const pc = client && client.subscribePc;
  if (pc && pc.connectionState !== "closed") {
    try {
      const midOfTrack = new Map();
      for (const t of pc.getTransceivers()) if (t.mid !== null) midOfTrack.set(t.receiver.track.id, String(t.mid));
      const stats = await pc.getStats();
      const now = performance.now();
      stats.forEach((r) => {
        if (r.type !== "inbound-rtp") return;
        const mid = r.mid !== undefined ? String(r.mid) : midOfTrack.get(r.trackIdentifier);
        if (mid === undefined) return;
        if (r.kind === "video") {
          const prev = videoFrames.get(mid);
          const frames = r.framesDecoded || 0;
          if (!prev || prev.frames !== frames) videoFrames.set(mid, { frames, changedAt: now });
        } else if (r.kind === "audio" && typeof r.audioLevel === "number") {
          statsLevels.set(mid, r.audioLevel);
        }
      });
    } catch (_) { /* closed meanwhile */ }
  }
  const pub = client && client.publishPc;
  if (pub && pub.connectionState !== "closed") {
    try {
      let level = 0;
      (await pub.getStats()).forEach((r) => {
        if (r.type === "media-source" && r.kind === "audio" && typeof r.audioLevel === "number") level = r.audioLevel;
      });
      localStatsLevel = level;
    } catch (_) { /* closed meanwhile */ }
  } else {
    localStatsLevel = 0;
  }
  refreshVideoVisibility();
  setTimeout(pollStats, 600);
}

function pollSpeaking() {
  const now = performance.now();
  for (const el of remoteTiles()) {
    let level = null;
    const rx = el._audioReceiver;
    if (rx && rx.getSynchronizationSources) {
      try {
        const src = rx.getSynchronizationSources()[0];
        if (src && typeof src.audioLevel === "number" && now - src.timestamp < 1000) level = src.audioLevel;
      } catch (_) { /* closed */ }
    }
    if (level === null && el._audioMid) level = statsLevels.get(el._audioMid) || 0;
    const pid = el.dataset.participantId;
    if (level > SPEAK_THRESHOLD) speakingUntil.set(pid, now + SPEAK_HOLD_MS);
    el.classList.toggle("speaking", (speakingUntil.get(pid) || 0) > now);
  }
  const self = selfTile();
  if (self) {
    if (S.micOn && Math.max(meter.level, localStatsLevel) > SPEAK_THRESHOLD) speakingUntil.set("self", now + SPEAK_HOLD_MS);
    self.classList.toggle("speaking", (speakingUntil.get("self") || 0) > now);
  }
  setTimeout(pollSpeaking, 200);
}

export function startPolling() {
  pollStats();
  pollSpeaking();
}

/** One entry per remote participant's tile (your own self-view is not included). */
export function tileInfo() {
  return remoteTiles().map((el) => ({
    participant_id: el.dataset.participantId,
    name: el.dataset.name,
    kind: el.dataset.kind || "audio",
    mid: el.dataset.mid || null,
    audio_mid: el.dataset.audioMid || null,
    video_mid: el.dataset.videoMid || null,
  }));
}

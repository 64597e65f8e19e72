// Call page: the lobby (preview, name, microphone meter) and the local camera and microphone.
import { MAX_NAME } from "./callsfu.js";
import { $, ICONS, S, colourFor, initials, isVideoCall, callMax, setState, show } from "./ui.js";
import { formatDate, t } from "./i18n.js";

const NAME_KEY = "callsfu.name";
export const VIDEO_CONSTRAINTS = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24 } };

/** getUserMedia constraints for a kind, on the device chosen before (if still there). */
export function constraintsFor(kind) {
  const id = S.devices[kind === "audio" ? "audioinput" : "videoinput"];
  const base = kind === "audio" ? {} : { ...VIDEO_CONSTRAINTS };
  if (id) base.deviceId = { ideal: id };
  return Object.keys(base).length ? base : true;
}
const params = new URLSearchParams(location.search);

export const meter = { level: 0 }; // the lobby analyser's level (may stay 0 without a user gesture)

export function validName(name) {
  const n = [...name].length;
  return n >= 1 && n <= MAX_NAME;
}

export function storeName(name) {
  try { localStorage.setItem(NAME_KEY, name); } catch (_) { /* storage off */ }
}

function lobbySubtitle() {
  const n = S.link.participants || 0;
  const who = n === 0 ? t("lobby.nobody") : n === 1 ? t("lobby.one") : t("lobby.many", { n });
  return t("lobby.upTo", { who, max: callMax() });
}

export function showLobby({ autojoin = params.get("autojoin") === "1", join }) {
  setState("lobby");
  S.reason = null;
  const video = isVideoCall();
  const kind = t(video ? "call.video" : "call.audio");
  $("lobby-type").innerHTML = video ? ICONS.video : ICONS.audio;
  $("lobby-type").append(kind);
  $("lobby-title").textContent = S.link.title || kind;
  $("lobby-sub").textContent = lobbySubtitle();
  $("lobby-expiry").textContent = S.link.expires_at ? t("lobby.expires", { date: formatDate(S.link.expires_at) }) : "";
  $("call-title").textContent = S.link.title || kind;
  document.title = t("page.title", { title: S.link.title || t("page.call") });
  $("cam-btn").hidden = !video;

  const input = $("name");
  let stored = "";
  try { stored = localStorage.getItem(NAME_KEY) || ""; } catch (_) { /* storage off */ }
  const fromUrl = params.get("name");
  input.value = (S.name || (fromUrl !== null ? fromUrl : stored)).slice(0, MAX_NAME);
  $("lobby-error").hidden = true;
  resetJoinButton();
  show("view-lobby");
  updatePreviewAvatar();

  S.mediaPromise = acquireMedia();
  if (autojoin && validName(input.value.trim())) join();
  else input.focus();
}

export function resetJoinButton() {
  $("join-btn").disabled = false;
  $("join-btn").textContent = t("lobby.join");
}

export function lobbyError(message) {
  $("lobby-error").textContent = message;
  $("lobby-error").hidden = false;
}

export function backToLobby(message) {
  show("view-lobby");
  setState("lobby");
  resetJoinButton();
  lobbyError(message);
}

export function updatePreviewAvatar() {
  const av = $("preview-avatar");
  const name = $("name").value.trim();
  av.textContent = initials(name || "?");
  av.style.background = colourFor(name);
}

export async function acquireMedia() {
  if (S.localStream && S.localStream.getTracks().some((t) => t.readyState === "live")) return S.localStream;
  S.localStream = null;
  S.mediaNote = "";
  S.mediaProblem = null;
  const video = isVideoCall();
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    S.mediaProblem = "insecure";
  } else {
    const tries = video
      ? [{ audio: constraintsFor("audio"), video: constraintsFor("video") }, { audio: constraintsFor("audio") }, { video: constraintsFor("video") }]
      : [{ audio: constraintsFor("audio") }];
    let lastErr = null;
    for (const c of tries) {
      try { S.localStream = await navigator.mediaDevices.getUserMedia(c); break; } catch (err) { lastErr = err; }
    }
    if (!S.localStream) {
      S.mediaProblem = problemOf(lastErr);
      console.warn("callsfu: no camera or microphone:", lastErr && lastErr.name, lastErr && lastErr.message);
    } else if (video && !S.localStream.getVideoTracks().length) {
      S.mediaNote = t("media.noCamera");
    } else if (!S.localStream.getAudioTracks().length) {
      S.mediaNote = t("media.noMic");
    }
  }
  showGuidance();
  S.micOn = true;
  S.camOn = true;
  showPreview();
  return S.localStream;
}

/** What went wrong getting camera and microphone: denied, missing or in use. */
export function problemOf(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") return "denied";
  if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError") return "inUse";
  return "missing"; // NotFoundError, OverconstrainedError, no device at all
}

/** The lobby's guidance box: what happened, what to do, and that joining still works. */
function showGuidance() {
  const box = $("media-help");
  const problem = S.mediaProblem;
  box.hidden = !problem;
  box.dataset.problem = problem || "";
  if (!problem) return;
  const listen = t(isVideoCall() ? "media.listenOnly" : "media.listenOnlyAudio");
  $("media-help-title").textContent = problem === "insecure" ? t("media.insecure") : t(`media.${problem}.title`);
  $("media-help-text").textContent = (problem === "insecure" ? "" : t(`media.${problem}.text`) + " ") + listen;
  $("media-retry").hidden = problem === "insecure";
}

$("media-retry").addEventListener("click", async () => {
  S.mediaPromise = acquireMedia();
  await S.mediaPromise;
  document.dispatchEvent(new Event("callsfu:media")); // devices.js lists what is there now
});

/** The lobby's preview and meter, on the current local stream. */
export function showPreview() {
  const hasVideo = !!(S.localStream && S.localStream.getVideoTracks().length);
  const pv = $("preview-video");
  pv.srcObject = hasVideo ? new MediaStream(S.localStream.getVideoTracks()) : null;
  pv.hidden = !hasVideo;
  $("preview-avatar").hidden = hasVideo;
  $("preview-note").textContent = S.mediaNote;
  $("preview-note").hidden = !S.mediaNote;
  startLocalMeter();
}

// Microphone level for the lobby meter and the self tile's speaking ring.
let meterCtx = null;
function startLocalMeter() {
  const track = S.localStream && S.localStream.getAudioTracks()[0];
  if (!track || !window.AudioContext) return;
  try {
    if (meterCtx) meterCtx.close();
    meterCtx = new AudioContext();
    const src = meterCtx.createMediaStreamSource(new MediaStream([track]));
    const an = meterCtx.createAnalyser();
    an.fftSize = 512;
    src.connect(an);
    const buf = new Float32Array(an.fftSize);
    const tick = () => {
      if (!meterCtx || meterCtx.state === "closed") return;
      an.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const v of buf) sum += v * v;
      const rms = Math.sqrt(sum / buf.length);
      meter.level = track.enabled ? rms : 0;
      $("preview-meter").style.width = Math.min(100, rms * 400) + "%";
      setTimeout(tick, 100);
    };
    tick();
    const resume = () => meterCtx && meterCtx.state === "suspended" && meterCtx.resume().catch(() => {});
    resume();
    document.addEventListener("click", resume, { once: true });
  } catch (_) { /* no meter */ }
}

export function stopLocalMedia() {
  if (S.localStream) for (const t of S.localStream.getTracks()) t.stop();
  S.localStream = null;
  S.mediaPromise = null;
  if (meterCtx) { meterCtx.close().catch(() => {}); meterCtx = null; }
}

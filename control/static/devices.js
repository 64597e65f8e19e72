// Call page: choosing the microphone, camera and (where the browser can)
// speaker, in the lobby and during the call; following devicechange (a
// headset plugged in is used, a device unplugged is replaced); front/back
// camera switch on phones. A new device of the same kind replaces the track
// being sent (RTCRtpSender.replaceTrack): no renegotiation.
import { onCall } from "./call-hooks.js";
import { t } from "./i18n.js";
import { constraintsFor, showPreview } from "./lobby.js";
import { applySpeaker, updateSelfVideo } from "./grid.js";
import { updateControls } from "./controls.js";
import { $, S, isVideoCall, saveDevices, toast } from "./ui.js";

const KINDS = [
  ["audioinput", "devices.microphone"],
  ["videoinput", "devices.camera"],
  ["audiooutput", "devices.speaker"],
];
let known = null; // deviceIds seen so far, to tell a device just plugged in
let devices = [];
const canPickSpeaker = typeof HTMLMediaElement !== "undefined" && "setSinkId" in HTMLMediaElement.prototype;

function currentId(kind) {
  const track = S.localStream && (kind === "audioinput" ? S.localStream.getAudioTracks()[0] : S.localStream.getVideoTracks()[0]);
  if (track) return track.getSettings().deviceId || S.devices[kind] || "";
  return S.devices[kind] || "";
}

function usable(kind) {
  if (kind === "videoinput" && !isVideoCall()) return false;
  if (kind === "audiooutput" && !canPickSpeaker) return false;
  return devices.some((d) => d.kind === kind);
}

/** Fill the selects of `box` (the lobby's or the call's), `prefix` names their ids. */
function renderSelects(box, prefix) {
  if (!box) return;
  box.textContent = "";
  for (const [kind, label] of KINDS) {
    if (!usable(kind)) continue;
    const field = document.createElement("label");
    field.className = "field device-field";
    const span = document.createElement("span");
    span.className = "label";
    span.textContent = t(label);
    const select = document.createElement("select");
    select.className = "input";
    select.id = `${prefix}-${kind}`;
    select.dataset.kind = kind;
    const current = currentId(kind);
    let n = 0;
    for (const d of devices.filter((x) => x.kind === kind)) {
      n += 1;
      const opt = document.createElement("option");
      opt.value = d.deviceId;
      opt.textContent = d.label || t("devices.unnamed", { kind: t(label), n });
      if (d.deviceId === current) opt.selected = true;
      select.appendChild(opt);
    }
    select.addEventListener("change", () => choose(kind, select.value));
    field.append(span, select);
    box.appendChild(field);
  }
  box.hidden = !box.children.length;
}

function renderAll() {
  renderSelects($("lobby-devices"), "lobby");
  renderSelects($("devices-list"), "call");
  const cams = devices.filter((d) => d.kind === "videoinput").length;
  const phone = window.matchMedia && window.matchMedia("(pointer: coarse)").matches;
  $("flip-btn").hidden = !(isVideoCall() && cams > 1 && phone);
  $("devices-btn").hidden = !KINDS.some(([kind]) => usable(kind));
}

export async function refreshDevices() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
  try { devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.deviceId); } catch (_) { devices = []; }
  renderAll();
}

/** Use device `deviceId` for `kind`: a new track in place of the old one. */
export async function choose(kind, deviceId) {
  S.devices[kind] = deviceId;
  saveDevices();
  if (kind === "audiooutput") { applySpeaker(); return; }
  await useDevice(kind, { deviceId: { exact: deviceId } });
}

async function useDevice(kind, pick, { stopFirst = false } = {}) {
  const audio = kind === "audioinput";
  const base = constraintsFor(audio ? "audio" : "video");
  const constraints = { ...(base === true ? {} : base), ...pick };
  let stream;
  const old = S.localStream && (audio ? S.localStream.getAudioTracks()[0] : S.localStream.getVideoTracks()[0]);
  if (old && stopFirst) old.stop(); // phones often cannot open two cameras at once
  try {
    stream = await navigator.mediaDevices.getUserMedia(audio ? { audio: constraints } : { video: constraints });
  } catch (err) {
    toast(t("devices.failed", { error: err.name || String(err) }));
    return;
  }
  const track = stream.getTracks()[0];
  track.enabled = audio ? S.micOn : S.camOn;
  if (!S.localStream) S.localStream = new MediaStream();
  if (old) { S.localStream.removeTrack(old); old.stop(); }
  S.localStream.addTrack(track);
  const settings = track.getSettings();
  if (settings.deviceId) { S.devices[kind] = settings.deviceId; saveDevices(); }
  if (S.client) {
    const source = audio ? "microphone" : "camera";
    await S.client.replaceTrack(source, track);
    if (!audio && !S.camOn) await S.client.pause("camera", true);
  }
  showPreview();
  updateSelfVideo();
  updateControls();
  renderAll();
}

/** Phones: the other camera (front <-> back). */
async function flip() {
  const track = S.localStream && S.localStream.getVideoTracks()[0];
  const facing = track && track.getSettings().facingMode;
  if (facing) {
    await useDevice("videoinput", { facingMode: { exact: facing === "user" ? "environment" : "user" }, deviceId: undefined }, { stopFirst: true });
    return;
  }
  const cams = devices.filter((d) => d.kind === "videoinput");
  const i = cams.findIndex((d) => d.deviceId === currentId("videoinput"));
  const next = cams[(i + 1) % cams.length];
  if (next) await choose("videoinput", next.deviceId);
}

async function onDeviceChange() {
  const before = known || new Set();
  await refreshDevices();
  const now = new Set(devices.map((d) => d.deviceId));
  known = now;
  const virtual = (id) => id === "default" || id === "communications";
  for (const kind of ["audioinput", "audiooutput", "videoinput"]) {
    if (!usable(kind)) continue;
    const list = devices.filter((d) => d.kind === kind);
    const plugged = list.find((d) => !before.has(d.deviceId) && !virtual(d.deviceId));
    const current = currentId(kind);
    const track = S.localStream && (kind === "audioinput" ? S.localStream.getAudioTracks()[0] : kind === "videoinput" ? S.localStream.getVideoTracks()[0] : null);
    const lost = kind !== "audiooutput" && ((track && track.readyState === "ended") || (current && !now.has(current)));
    if (plugged && kind !== "videoinput") {
      toast(t("devices.switched", { label: plugged.label || t(KINDS.find((k) => k[0] === kind)[1]) }), "info", 3000);
      await choose(kind, plugged.deviceId);
    } else if (lost && list.length) {
      await choose(kind, list[0].deviceId);
    }
  }
}

$("devices-btn").addEventListener("click", () => {
  const panel = $("devices-panel");
  panel.hidden = !panel.hidden;
  if (!panel.hidden) refreshDevices();
});
$("devices-close").addEventListener("click", () => { $("devices-panel").hidden = true; });
$("flip-btn").addEventListener("click", () => flip());
if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
  navigator.mediaDevices.addEventListener("devicechange", () => onDeviceChange());
}

/** After getUserMedia: labels are known now, list them. */
export async function afterMedia() {
  await refreshDevices();
  if (!known) known = new Set(devices.map((d) => d.deviceId));
}

onCall(() => { afterMedia(); });
document.addEventListener("callsfu:media", () => afterMedia());

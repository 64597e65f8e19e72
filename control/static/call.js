// The call page at /call/TOKEN (docs/client.md): a lobby, then the call, on the
// protocol client of callsfu.js. This module wires the pieces together:
//   ui.js        page state, icons, toasts, message pages
//   lobby.js     lobby, preview, local camera and microphone
//   grid.js      tiles, remote video and audio, speaking rings
//   controls.js  microphone, camera and leave buttons
//   screens.js   screen sharing: the Share screen button, shared screens shown large
//   devices.js   microphone / camera / speaker choice, devicechange, front/back camera
//   invite.js    the link with Copy and Share; "you're the only one here"
//   i18n.js      English and French (strings.js), ?lang=
//   call-hooks.js  where other modules hook into each call (onCall) and the link (onLink)
//   e2ee.js      end-to-end encrypted calls: key from #key=, the frame worker, safety code
//   speakers.js  the server's `speakers`: highlight, recent speakers first
//   view.js      the `view` message: which videos the page shows, and their size
import { CallClient, CallError, MAX_NAME, fetchLink } from "./callsfu.js";
import {
  $, S, callMax, isVideoCall, setState, show, showEnded, showFull, showLeft, showNetworkError, showUnavailable, toast,
} from "./ui.js";
import { acquireMedia, backToLobby, lobbyError, showLobby, stopLocalMedia, storeName, updatePreviewAvatar, validName } from "./lobby.js";
import { clearRemote, render, resetGrid, selfTile, startPolling, tileInfo } from "./grid.js";
import { bindControls, updateControls } from "./controls.js";
import { screenInfo } from "./screens.js";
import "./invite.js";
import { afterMedia } from "./devices.js";
import { LANG, applyStatic, t } from "./i18n.js";
import { callHooks, linkChecks } from "./call-hooks.js";
import "./e2ee.js";
import "./simulcast.js";
import "./speakers.js"; // the server's speaker order: highlights, recent speakers first
import "./view.js"; // the videos this page shows, so the server sends no others

const parts = location.pathname.split("/").filter(Boolean);
// A malformed escape (a "%" cut short when the link was copied) is an unknown link, not a crash.
const decodePart = (part) => { try { return decodeURIComponent(part); } catch (_) { return ""; } };
const TOKEN = parts[0] === "call" && parts[1] ? decodePart(parts[1]) : "";


async function init() {
  if (!TOKEN) { showUnavailable({ code: "link_not_found" }); return; }
  try {
    S.link = await fetchLink(TOKEN);
  } catch (err) {
    if (err instanceof CallError) showUnavailable(err);
    else showNetworkError();
    return;
  }
  for (const check of linkChecks) if (!(await check(S.link))) return;
  lobby();
}

function lobby(options = {}) {
  showLobby({ ...options, join });
  if (S.mediaPromise) S.mediaPromise.then(() => afterMedia());
}

$("lobby-form").addEventListener("submit", (ev) => { ev.preventDefault(); join(); });
$("name").addEventListener("input", updatePreviewAvatar);

async function join() {
  const input = $("name");
  const name = (S.state === "lobby" ? input.value : S.name || input.value).trim();
  if (!validName(name)) {
    show("view-lobby");
    setState("lobby");
    lobbyError(t("lobby.badName", { max: MAX_NAME }));
    input.focus();
    return;
  }
  S.name = name;
  storeName(name);
  $("lobby-error").hidden = true;
  $("join-btn").disabled = true;
  $("join-btn").textContent = t("lobby.joining");
  setState("joining");
  if (!S.mediaPromise) S.mediaPromise = acquireMedia(); // the lobby's request, if still running, is reused
  await S.mediaPromise; // camera and microphone first: a ticket lives only 30 s
  const client = newClient();
  try {
    await client.join(name);
  } catch (err) {
    S.client = null;
    if (!(err instanceof CallError)) backToLobby(t("lobby.unreachable"));
    else if (err.code === "call_full") showFull(callMax(), join);
    else if (err.status === 404 || err.status === 410) { stopLocalMedia(); showUnavailable(err); }
    else backToLobby(err.message);
    return;
  }
  enterCall(client);
}

function newClient() {
  const video = isVideoCall();
  const client = new CallClient({ token: TOKEN, name: S.name, video, maxParticipants: callMax() });
  const stream = S.localStream;
  client.setLocalTracks({
    audio: stream ? stream.getAudioTracks()[0] || null : null,
    video: video && stream ? stream.getVideoTracks()[0] || null : null,
  });
  client.on("state", ({ state, attempt }) => {
    if (client !== S.client) return;
    if (state === "connecting" || state === "connected" || state === "reconnecting") setState(state);
    const banner = $("banner");
    if (state === "reconnecting") {
      const dropped = !client.welcomed && attempt > 0;
      banner.textContent = dropped ? t("banner.attempt", { n: attempt }) : t("banner.media");
      banner.hidden = false;
    } else if (state === "connected" || state === "connecting") {
      if (client.welcomed) banner.hidden = true;
    }
  });
  client.on("welcome", (msg) => {
    const self = selfTile();
    if (self) self.dataset.participantId = client.selfId;
    if (msg.call && typeof msg.call.title === "string" && msg.call.title) $("call-title").textContent = msg.call.title;
    $("banner").hidden = true;
    $("publish-banner").hidden = true;
  });
  client.on("participants", () => render(client));
  client.on("media", (media) => render(client, media));
  client.on("error", ({ code, message }) => {
    console.warn("callsfu:", code, message);
    if (code === "media_setup") toast(t("error.mediaSetup"));
    else if (code === "publish_failed") toast(t("error.publish"));
    else toast(LANG === "en" && message ? message : t("error.server", { code })); // the server's sentences are English
  });
  client.on("publish-refused", ({ message }) => {
    console.warn("callsfu: publish refused:", message);
    $("publish-banner").textContent = t("banner.refused");
    $("publish-banner").hidden = false;
  });
  client.on("ended", ({ reason, error }) => {
    if (client !== S.client) return;
    S.client = null;
    clearRemote();
    if (reason === "call_full") { showFull(callMax(), join); return; }
    stopLocalMedia();
    if (error) showUnavailable(error);
    else showEnded(reason);
  });
  S.client = client;
  for (const hook of callHooks) hook(client);
  return client;
}

function enterCall(client) {
  show("view-call");
  $("banner").hidden = true;
  resetGrid(client.selfId);
  updateControls();
  render(client, new Map());
}

function leave() {
  const client = S.client;
  S.client = null;
  if (client) client.leave();
  clearRemote();
  stopLocalMedia();
  showLeft(() => lobby({ autojoin: true }));
}

bindControls({ leave });

// ---------------------------------------------------------------- test hook
window.callsfu = {
  get state() { return S.state; },
  get reason() { return S.reason; },
  get selfId() { return S.client ? S.client.selfId : null; },
  get name() { return S.name; },
  get link() { return S.link; },
  get participants() { return S.client ? Object.fromEntries(S.client.participants) : {}; },
  get tracks() { return S.client ? S.client.tracks.map((t) => ({ ...t })) : []; },
  get publishPc() { return S.client ? S.client.publishPc : null; },
  get subscribePc() { return S.client ? S.client.subscribePc : null; },
  get localStream() { return S.localStream; },
  get client() { return S.client; },
  tiles: tileInfo,
  screens: screenInfo,
};

applyStatic();
document.title = t("page.title", { title: t("page.loadingTitle") });
startPolling();
init();

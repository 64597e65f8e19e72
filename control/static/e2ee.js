// Call page: end-to-end encrypted calls (docs/protocol.md, "End-to-end
// encrypted calls"). The key is the link's #key= fragment, which the browser
// never sends to the server. This module
//   - refuses to join an E2EE link opened without a usable key (the link is
//     incomplete) or in a browser without encoded transforms;
//   - imports the key (non-extractable), derives the six-digit safety code,
//     and starts the frame worker (e2ee-worker.js) that encrypts every frame
//     sent and decrypts every frame received;
//   - hooks into each CallClient: `"e2ee": true` in the join, the worker on
//     every sender and receiver (RTCRtpScriptTransform, else Chromium's
//     encoded streams, which need `encodedInsertableStreams: true`);
//   - shows that the call is end-to-end encrypted with its safety code, and
//     whose media cannot be decrypted (a different key), from the worker's counts.
import { onCall, onLink } from "./call-hooks.js";
import { $, showMessage } from "./ui.js";
import { LANG } from "./i18n.js";

// This module's strings, English and French (the page's language: i18n.js).
const STRINGS = {
  en: {
    newLink: "Create a new call link",
    incompleteTitle: "This link is incomplete",
    incompleteText: "This call is end-to-end encrypted, and its key is the last part of the link (after #key=). " +
      "That part is missing or cut short: ask for the link again and open all of it.",
    unsupportedTitle: "This browser can't join an end-to-end encrypted call",
    unsupportedText: "It lacks encoded transforms (RTCRtpScriptTransform or encoded streams) or WebCrypto (which needs HTTPS). Open the link in a current Chrome, Edge, Firefox or Safari, over HTTPS.",
    lobby: (code) => `End-to-end encrypted: the server cannot see or hear this call. Safety code ${code}: the others see the same code if they have the same link.`,
    badgeTitle: "End-to-end encrypted: only people with the whole link can see and hear this call. Compare the safety code aloud: everyone with the same key sees the same code. To remove someone, the host revokes the link and shares a new one.",
    badge: "End-to-end encrypted · safety code",
    someone: "someone",
    and: " and ",
    failing: (who, n) => `Can't decrypt ${who}'s media: your link's key is not the one they use (${n} frames dropped, none shown). ` +
      "Ask for the link again and open all of it, including the part after #key=.",
  },
  fr: {
    newLink: "Créer un nouveau lien d’appel",
    incompleteTitle: "Ce lien est incomplet",
    incompleteText: "Cet appel est chiffré de bout en bout, et sa clé est la dernière partie du lien (après #key=). " +
      "Cette partie manque ou est tronquée : redemandez le lien et ouvrez-le en entier.",
    unsupportedTitle: "Ce navigateur ne peut pas rejoindre un appel chiffré de bout en bout",
    unsupportedText: "Il ne gère pas les transformations encodées (RTCRtpScriptTransform ou encoded streams) ou WebCrypto (qui exige HTTPS). Ouvrez le lien dans un Chrome, Edge, Firefox ou Safari récent, en HTTPS.",
    lobby: (code) => `Chiffré de bout en bout : le serveur ne peut ni voir ni entendre cet appel. Code de sécurité ${code} : les autres voient le même code s’ils ont le même lien.`,
    badgeTitle: "Chiffré de bout en bout : seules les personnes ayant le lien complet voient et entendent cet appel. Comparez le code de sécurité à voix haute : tous ceux qui ont la même clé voient le même code. Pour exclure quelqu’un, l’hôte révoque le lien et en partage un nouveau.",
    badge: "Chiffré de bout en bout · code de sécurité",
    someone: "quelqu’un",
    and: " et ",
    failing: (who, n) => `Impossible de déchiffrer le son et l’image de ${who} : la clé de votre lien n’est pas la leur (${n} images rejetées, aucune affichée). ` +
      "Redemandez le lien et ouvrez-le en entier, y compris la partie après #key=.",
  },
};
const T = STRINGS[LANG] || STRINGS.en;

const SALT = new TextEncoder().encode("callsfu e2ee v1");
const KEY_RE = /^[A-Za-z0-9_-]{43}$/;
const LOCK = '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" aria-hidden="true"><rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V8a4 4 0 0 1 8 0v3"/></svg>';

/** The raw link key from `#key=` (32 bytes), or null when absent or malformed. */
export function keyFromFragment(hash = location.hash) {
  const value = new URLSearchParams(hash.replace(/^#/, "")).get("key");
  if (!value || !KEY_RE.test(value)) return null;
  try {
    const bin = atob(value.replace(/-/g, "+").replace(/_/g, "/") + "=");
    return bin.length === 32 ? Uint8Array.from(bin, (c) => c.charCodeAt(0)) : null;
  } catch (_) { return null; }
}

/** Which encoded-transform API this browser has: "script-transform", "encoded-streams" or null. */
export function transformApi() {
  if (typeof window.RTCRtpScriptTransform === "function") return "script-transform";
  if (window.RTCRtpSender && typeof RTCRtpSender.prototype.createEncodedStreams === "function") return "encoded-streams";
  return null;
}

/** Six digits everyone holding the same key sees: HKDF(key, "callsfu safety code"), 4 bytes mod 10^6. */
export async function safetyCode(baseKey) {
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: SALT, info: new TextEncoder().encode("callsfu safety code") }, baseKey, 32,
  );
  const digits = String(new DataView(bits).getUint32(0) % 1000000).padStart(6, "0");
  return `${digits.slice(0, 3)} ${digits.slice(3)}`;
}

const E = {
  enabled: false,
  api: null,
  safetyCode: "",
  worker: null,
  seq: 0,
  attached: new WeakSet(),
  receiveIds: new Map(), // mid -> transform id of the current subscribe connection's receiver
  stats: {},             // transform id -> counts, from the worker
  seen: new Map(),       // transform id -> {decrypted, failed} at the last look
  failingMids: new Set(),
  client: null,
};

function incomplete(reason, title, text) {
  showMessage({ state: "unavailable", reason, icon: "alert", title, text, actions: [{ label: T.newLink, href: "/" }] });
  document.getElementById("msg-icon").innerHTML = LOCK;
}

onLink(async (link) => {
  if (!link.e2ee) return true;
  const raw = keyFromFragment();
  if (!raw) {
    incomplete("e2ee_key_missing", T.incompleteTitle, T.incompleteText);
    return false;
  }
  E.api = transformApi();
  if (!E.api || !window.crypto || !crypto.subtle) {
    incomplete("e2ee_unsupported", T.unsupportedTitle, T.unsupportedText);
    return false;
  }
  const baseKey = await crypto.subtle.importKey("raw", raw, "HKDF", false, ["deriveKey", "deriveBits"]);
  raw.fill(0);
  E.safetyCode = await safetyCode(baseKey);
  E.worker = new Worker("/static/e2ee-worker.js", { name: "callsfu-e2ee" });
  E.worker.postMessage({ type: "key", key: baseKey });
  E.worker.onmessage = (ev) => { if (ev.data && ev.data.type === "stats") { E.stats = ev.data.stats; review(); } };
  E.enabled = true;
  decorate();
  if (window.callsfu) window.callsfu.e2ee = testHook;
  return true;
});

// The lobby and the call's top bar say so, with the safety code.
function decorate() {
  const note = document.createElement("p");
  note.className = "e2ee-note";
  note.id = "e2ee-lobby";
  note.innerHTML = LOCK + "<span></span>";
  note.querySelector("span").textContent = T.lobby(E.safetyCode);
  $("lobby-sub").after(note);
  const badge = document.createElement("span");
  badge.className = "badge e2ee-badge";
  badge.id = "e2ee-badge";
  badge.title = T.badgeTitle;
  badge.innerHTML = LOCK + '<span class="e2ee-label"></span> <b class="e2ee-code"></b>';
  badge.querySelector(".e2ee-label").textContent = T.badge;
  badge.querySelector(".e2ee-code").textContent = E.safetyCode;
  $("call-title").after(badge);
  const banner = document.createElement("div");
  banner.className = "banner e2ee-banner";
  banner.id = "e2ee-banner";
  banner.setAttribute("role", "alert");
  banner.hidden = true;
  $("publish-banner").after(banner);
}

function attach(target, operation, kind, mid) {
  if (E.attached.has(target)) return; // one transform per sender/receiver (a reused mid keeps its own)
  E.attached.add(target);
  const options = { id: ++E.seq, operation, kind, mid };
  if (operation === "decrypt" && mid !== null) E.receiveIds.set(String(mid), String(options.id));
  if (E.api === "script-transform") {
    target.transform = new RTCRtpScriptTransform(E.worker, options);
  } else {
    const { readable, writable } = target.createEncodedStreams();
    E.worker.postMessage({ type: "stream", readable, writable, options }, [readable, writable]);
  }
}

onCall((client) => {
  if (!E.enabled) return;
  E.client = client;
  client.use({
    joinFields: (fields) => ({ ...fields, e2ee: true }),
    peerConnectionConfig: (config, role) => {
      if (role === "subscribe") E.receiveIds.clear();
      return E.api === "encoded-streams" ? { ...config, encodedInsertableStreams: true } : config;
    },
    sender: (sender, { kind }) => attach(sender, "encrypt", kind, null),
    receiver: (receiver, { mid, kind }) => attach(receiver, "decrypt", kind, mid),
  });
  client.on("tracks", () => review());
  client.on("participants", () => review());
});

// From the worker's counts: which subscribe mids fail to decrypt now (frames
// failing, none decrypting since the last look), and so whose media.
function review() {
  const client = E.client;
  for (const [mid, id] of E.receiveIds) {
    const st = E.stats[id];
    if (!st) continue;
    const before = E.seen.get(id) || { decrypted: 0, failed: 0 };
    if (st.decrypted > before.decrypted) E.failingMids.delete(mid);
    else if (st.failed > before.failed) E.failingMids.add(mid);
    E.seen.set(id, { decrypted: st.decrypted, failed: st.failed });
  }
  for (const mid of [...E.failingMids]) if (!E.receiveIds.has(mid)) E.failingMids.delete(mid);
  const failing = new Set();
  if (client) {
    for (const t of client.tracks) if (E.failingMids.has(String(t.mid)) && t.participant_id !== client.selfId) failing.add(t.participant_id);
  }
  for (const tile of document.querySelectorAll(".tile:not(.self)")) {
    tile.classList.toggle("e2ee-failed", failing.has(tile.dataset.participantId));
  }
  const banner = document.getElementById("e2ee-banner");
  if (!banner) return;
  if (!failing.size) { banner.hidden = true; return; }
  const names = [...failing].map((pid) => (client && client.participants.get(pid)) || T.someone);
  const who = names.length === 1 ? names[0] : names.slice(0, -1).join(", ") + T.and + names[names.length - 1];
  banner.textContent = T.failing(who, totals().failed);
  banner.hidden = false;
}

function totals() {
  const sum = { encrypted: 0, decrypted: 0, failed: 0 };
  for (const st of Object.values(E.stats)) {
    sum.encrypted += st.encrypted; sum.decrypted += st.decrypted;
    if (st.operation === "decrypt") sum.failed += st.failed;
  }
  return sum;
}

// window.callsfu.e2ee (the tests read it)
const testHook = {
  get enabled() { return E.enabled; },
  get api() { return E.api; },
  get safetyCode() { return E.safetyCode; },
  get totals() { return totals(); },
  get stats() { return E.stats; },
  get failing() {
    const c = E.client;
    return c ? c.tracks.filter((t) => E.failingMids.has(String(t.mid))).map((t) => t.participant_id) : [];
  },
};


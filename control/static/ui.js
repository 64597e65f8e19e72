import { t } from "./i18n.js";

// Call page: shared page state and small DOM helpers (icons, toasts, message pages).
export const $ = (id) => document.getElementById(id);

// Small inline icons (no emoji: not every system has an emoji font).
const svg = (body) => `<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">${body}</svg>`;
export const ICONS = {
  video: svg('<rect x="3" y="6" width="13" height="12" rx="2"/><path d="M16 10l5-3v10l-5-3z"/>'),
  audio: svg('<rect x="9" y="3" width="6" height="11" rx="3"/><path d="M5 11a7 7 0 0 0 14 0M12 18v3"/>'),
  micOff: svg('<path d="M3 3l18 18M9 9v2a3 3 0 0 0 5.1 2.1M15 10V6a3 3 0 0 0-5.7-1.3M5 11a7 7 0 0 0 11.5 5.4M19 11a7 7 0 0 1-.7 3M12 18v3"/>'),
  search: svg('<circle cx="11" cy="11" r="6.5"/><path d="M20 20l-4.2-4.2"/>'),
  clock: svg('<circle cx="12" cy="12" r="8.5"/><path d="M12 7.5V12l3 2"/>'),
  ban: svg('<circle cx="12" cy="12" r="8.5"/><path d="M6 6l12 12"/>'),
  users: svg('<circle cx="9" cy="8.5" r="3.5"/><path d="M2.5 20a6.5 6.5 0 0 1 13 0M16 5.2a3.5 3.5 0 0 1 0 6.6M18 14.2A6.5 6.5 0 0 1 21.5 20"/>'),
  phoneOff: svg('<path d="M3 3l18 18M10.7 13.3a12 12 0 0 0 2.2 1.7l1.6-1.6a1.5 1.5 0 0 1 1.6-.3 11 11 0 0 0 2.7.7 1.5 1.5 0 0 1 1.2 1.5v2.6a1.5 1.5 0 0 1-1.6 1.5A17 17 0 0 1 8 14.6M5.6 11.8A17 17 0 0 1 3.1 5.1 1.5 1.5 0 0 1 4.6 3.5h2.6a1.5 1.5 0 0 1 1.5 1.2c.1.9.4 1.8.7 2.7a1.5 1.5 0 0 1-.3 1.6L8 10.1"/>'),
  exit: svg('<path d="M14 4h4a2 2 0 0 1 2 2v12a2 2 0 0 1-2 2h-4M10 16l-4-4 4-4M6 12h10"/>'),
  offline: svg('<path d="M3 3l18 18M8.5 16.5a5 5 0 0 1 7 0M5 12.9a10 10 0 0 1 5.1-2.7M13.9 10.2A10 10 0 0 1 19 12.9M2 9.3a15 15 0 0 1 4.3-2.6M10.6 5.1A15 15 0 0 1 22 9.3"/><circle cx="12" cy="20" r=".6"/>'),
  alert: svg('<path d="M12 3l9.5 17h-19z"/><path d="M12 10v4.5M12 17.5v.01"/>'),
};

const DEVICES_KEY = "callsfu.devices";

// The page's state (the protocol client's own lives in callsfu.js).
export const S = {
  state: "loading", // loading | lobby | joining | connecting | connected | reconnecting | left | ended | full | unavailable
  reason: null,     // why a message page is shown (link_not_found, link_revoked, call_full, ...)
  link: null,       // GET /api/links/TOKEN
  name: "",
  client: null,     // the CallClient while in a call
  localStream: null,
  mediaPromise: null,
  mediaNote: "",
  micOn: true,
  camOn: true,
  devices: loadDevices(), // kind (audioinput, videoinput, audiooutput) -> the deviceId chosen
};

function loadDevices() {
  try {
    const v = JSON.parse(localStorage.getItem(DEVICES_KEY) || "{}");
    return v && typeof v === "object" ? v : {};
  } catch (_) { return {}; }
}
export function saveDevices() {
  try { localStorage.setItem(DEVICES_KEY, JSON.stringify(S.devices)); } catch (_) { /* storage off */ }
}

export function isVideoCall() { return !!(S.link && S.link.type === "video"); }
export function callMax() { return S.link ? S.link.max_participants : 32; }

export function setState(state) {
  S.state = state;
  document.body.dataset.state = state;
  const conn = $("conn");
  if (["connecting", "connected", "reconnecting"].includes(state)) {
    conn.dataset.state = state;
    conn.textContent = t("conn." + state);
  }
}

export function show(viewId) {
  for (const id of ["view-loading", "view-message", "view-lobby", "view-call"]) $(id).hidden = id !== viewId;
}

export function toast(text, kind = "error", ms = 4500) {
  const el = document.createElement("div");
  el.className = "toast " + kind;
  el.textContent = text;
  $("toasts").appendChild(el);
  setTimeout(() => el.remove(), ms);
}

export function initials(name) {
  const words = (name || "?").trim().split(/\s+/).filter(Boolean);
  const chars = words.length > 1 ? [words[0], words[words.length - 1]].map((w) => [...w][0]) : [...(words[0] || "?")].slice(0, 2);
  return chars.join("").toUpperCase();
}

export function colourFor(text) {
  let h = 0;
  for (const ch of text || "") h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return `hsl(${h % 360} 55% 42%)`;
}

export function showMessage({ state, reason, icon, title, text, actions = [] }) {
  setState(state);
  S.reason = reason || state;
  $("msg-icon").innerHTML = ICONS[icon] || ICONS.alert;
  $("msg-title").textContent = title;
  $("msg-text").textContent = text;
  const box = $("msg-actions");
  box.textContent = "";
  for (const a of actions) {
    const el = document.createElement(a.href ? "a" : "button");
    el.className = "btn " + (a.primary ? "btn-primary" : "btn-ghost");
    el.textContent = a.label;
    if (a.href) el.href = a.href;
    else { el.type = "button"; el.addEventListener("click", a.onClick); }
    if (a.id) el.id = a.id;
    box.appendChild(el);
  }
  document.title = t("page.title", { title });
  show("view-message");
}

const newLink = () => ({ label: t("msg.newLink"), href: "/" });

export function showUnavailable(err) {
  const pages = {
    link_not_found: { icon: "search", key: "notFound" },
    link_expired: { icon: "clock", key: "expired" },
    link_revoked: { icon: "ban", key: "revoked" },
  };
  const page = pages[err.code] || { icon: "alert", key: "other" };
  showMessage({
    state: "unavailable", reason: err.code, icon: page.icon,
    title: t(`msg.${page.key}.title`), text: t(`msg.${page.key}.text`), actions: [newLink()],
  });
}

export function showNetworkError() {
  showMessage({
    state: "unavailable", reason: "network", icon: "offline", title: t("msg.network.title"),
    text: t("msg.network.text"),
    actions: [{ label: t("msg.tryAgain"), primary: true, onClick: () => location.reload() }],
  });
}

export function showFull(max, retry) {
  showMessage({
    state: "full", reason: "call_full", icon: "users", title: t("msg.full.title"),
    text: t("msg.full.text", { max }),
    actions: [{ label: t("msg.tryAgain"), primary: true, id: "retry-btn", onClick: retry }],
  });
}

export function showEnded(reason) {
  const revoked = reason === "link_revoked";
  showMessage({
    state: "ended", reason, icon: revoked ? "ban" : "phoneOff", title: t("msg.ended.title"),
    text: revoked ? t("msg.ended.revoked") : t("msg.ended.server"),
    actions: [newLink()],
  });
}

export function showLeft(rejoin) {
  showMessage({
    state: "left", reason: "left", icon: "exit", title: t("msg.left.title"),
    text: t("msg.left.text"),
    actions: [{ label: t("msg.left.rejoin"), primary: true, id: "rejoin-btn", onClick: rejoin }, newLink()],
  });
}

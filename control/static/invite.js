// Call page: invite from the call. The Invite button opens the link with Copy
// and Share (Web Share where the browser has it); alone in the call, the stage
// says so and offers the same. The link is the page's own, fragment included
// (an E2EE link's #key=), without ?name=/autojoin.
import { onCall } from "./call-hooks.js";
import { t } from "./i18n.js";
import { $, S, toast } from "./ui.js";

export function inviteLink() {
  return location.origin + location.pathname + location.hash;
}

async function copy(input) {
  const url = inviteLink();
  try {
    await navigator.clipboard.writeText(url);
  } catch (_) {
    input.select();
    // (the older way, for pages where the async clipboard is refused)
    if (!document.execCommand || !document.execCommand("copy")) { toast(t("invite.copyFailed")); return; }
  }
  toast(t("invite.copied"), "info", 2500);
}

async function share() {
  try {
    await navigator.share({ title: t("invite.shareTitle"), text: S.link && S.link.title ? S.link.title : t("invite.shareTitle"), url: inviteLink() });
  } catch (_) { /* dismissed */ }
}

/** A link row: the URL (read-only, selected on focus), Copy, and Share if available. */
function linkRow(prefix) {
  const row = document.createElement("div");
  row.className = "link-row";
  const input = document.createElement("input");
  input.className = "input";
  input.id = `${prefix}-url`;
  input.readOnly = true;
  input.value = inviteLink();
  input.setAttribute("aria-label", t("invite.linkLabel"));
  input.addEventListener("focus", () => input.select());
  const copyBtn = document.createElement("button");
  copyBtn.type = "button";
  copyBtn.className = "btn btn-primary";
  copyBtn.id = `${prefix}-copy`;
  copyBtn.textContent = t("invite.copy");
  copyBtn.addEventListener("click", () => copy(input));
  row.append(input, copyBtn);
  if (navigator.share) {
    const shareBtn = document.createElement("button");
    shareBtn.type = "button";
    shareBtn.className = "btn btn-ghost";
    shareBtn.id = `${prefix}-share`;
    shareBtn.textContent = t("invite.share");
    shareBtn.addEventListener("click", share);
    row.append(shareBtn);
  }
  return row;
}

/** A heading and a paragraph, in the page's language. */
function heading(titleKey, textKey) {
  const h = document.createElement("h2");
  h.textContent = t(titleKey);
  const p = document.createElement("p");
  p.textContent = t(textKey);
  return [h, p];
}

function build() {
  const panel = $("invite-panel");
  panel.textContent = "";
  const close = document.createElement("button");
  close.type = "button";
  close.className = "btn btn-quiet close";
  close.id = "invite-close";
  close.textContent = t("invite.close");
  close.addEventListener("click", () => { panel.hidden = true; });
  panel.append(...heading("invite.title", "invite.text"), linkRow("invite"), close);

  const alone = $("alone");
  alone.textContent = "";
  alone.append(...heading("invite.aloneTitle", "invite.aloneText"), linkRow("alone"));
}

$("invite-btn").addEventListener("click", () => {
  const panel = $("invite-panel");
  if (panel.hidden) build();
  panel.hidden = !panel.hidden;
});
document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") $("invite-panel").hidden = true; });

function updateAlone(client) {
  const alone = $("alone");
  const show = client === S.client && client.welcomed && client.participants.size === 0;
  if (show && alone.hidden) build();
  alone.hidden = !show;
  $("stage").classList.toggle("alone", show);
}

onCall((client) => {
  client.on("participants", () => updateAlone(client));
  client.on("welcome", () => updateAlone(client));
  client.on("state", ({ state }) => {
    if (state === "closed" || state === "reconnecting") { $("alone").hidden = true; $("invite-panel").hidden = true; $("stage").classList.remove("alone"); }
  });
});

// callsfu: the page where a host creates (and revokes) a call link.
import { LANG, applyStatic, formatDateTime, t } from "./i18n.js";

applyStatic();
document.title = t("create.pageTitle");

{
  const $ = (id) => document.getElementById(id);
  const form = $("create-form");
  const createBtn = $("create-btn");
  const createError = $("create-error");
  const result = $("result");
  const notice = $("result-notice");
  const apiKeyInput = $("api-key");
  let current = null; // the last link created: the POST /api/links answer

  const KEY_STORE = "callsfu.apiKey";
  try { apiKeyInput.value = sessionStorage.getItem(KEY_STORE) || ""; } catch (_) { /* storage off */ }

  function headers() {
    const h = { "Content-Type": "application/json" };
    const key = apiKeyInput.value.trim();
    if (key) h.Authorization = "Bearer " + key;
    return h;
  }

  // An error body is {"error": {"code", "message"}}: show its sentence.
  async function errorMessage(resp) {
    try {
      const body = await resp.json();
      if (body && body.error && body.error.message) return LANG === "en" ? body.error.message : t("create.refused", { code: body.error.code, message: body.error.message });
    } catch (_) { /* not JSON */ }
    return t("create.serverAnswered", { status: resp.status });
  }

  function formatExpiry(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    return formatDateTime(d);
  }

  function showNotice(kind, text) {
    notice.className = "notice " + kind;
    notice.textContent = text;
    notice.hidden = false;
  }

  // An end-to-end encrypted link's key: 256 random bits made here, base64url
  // without padding, appended as #key=... (a fragment never reaches a server).
  function newE2eeKey() {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    createError.hidden = true;
    const type = form.querySelector('input[name="type"]:checked').value;
    const title = $("title").value.trim().slice(0, 100);
    const e2ee = $("e2ee").checked;
    try { sessionStorage.setItem(KEY_STORE, apiKeyInput.value.trim()); } catch (_) { /* storage off */ }
    createBtn.disabled = true;
    createBtn.textContent = t("create.creating");
    try {
      const resp = await fetch("/api/links", {
        method: "POST", headers: headers(), body: JSON.stringify({ type, title, e2ee }),
      });
      if (!resp.ok) {
        createError.textContent = await errorMessage(resp);
        createError.hidden = false;
        if (resp.status === 401 || resp.status === 403) $("advanced").open = true;
        return;
      }
      current = await resp.json();
      if (current.e2ee) current.url += "#key=" + newE2eeKey();
      showResult(current);
    } catch (err) {
      createError.textContent = t("create.unreachable", { error: err.message });
      createError.hidden = false;
    } finally {
      createBtn.disabled = false;
      createBtn.textContent = t("create.create");
    }
  });

  function showResult(link) {
    $("link-url").value = link.url;
    $("result-type").textContent = t(link.type === "audio" ? "call.audio" : "call.video");
    $("result-title").textContent = link.title || "";
    $("result-title-wrap").hidden = !link.title;
    $("result-e2ee").hidden = !link.e2ee;
    $("result-e2ee-note").hidden = !link.e2ee;
    const expiry = $("link-expiry");
    expiry.textContent = formatExpiry(link.expires_at);
    expiry.dateTime = link.expires_at;
    expiry.title = link.expires_at;
    $("join-btn").href = link.url;
    $("share-btn").hidden = typeof navigator.share !== "function";
    $("revoke-btn").disabled = false;
    $("revoke-btn").textContent = t("create.revoke");
    $("join-btn").classList.remove("disabled");
    $("join-btn").removeAttribute("aria-disabled");
    notice.hidden = true;
    form.hidden = true;
    result.hidden = false;
    $("copy-btn").focus();
  }

  $("copy-btn").addEventListener("click", async () => {
    const btn = $("copy-btn");
    const url = $("link-url").value;
    let ok = false;
    try {
      await navigator.clipboard.writeText(url);
      ok = true;
    } catch (_) {
      $("link-url").select();
      try { ok = document.execCommand("copy"); } catch (_) { ok = false; }
    }
    btn.textContent = t(ok ? "create.copied" : "create.selectCopy");
    setTimeout(() => { btn.textContent = t("create.copy"); }, 1800);
  });

  $("share-btn").addEventListener("click", async () => {
    if (!current) return;
    try {
      await navigator.share({
        title: current.title || t("invite.shareTitle"),
        text: current.title ? t("create.joinTitle", { title: current.title }) : t("invite.shareTitle"),
        url: current.url,
      });
    } catch (_) { /* cancelled */ }
  });

  $("new-btn").addEventListener("click", () => {
    result.hidden = true;
    form.hidden = false;
    $("title").value = "";
    $("title").focus();
  });

  $("revoke-btn").addEventListener("click", async () => {
    if (!current) return;
    const btn = $("revoke-btn");
    btn.disabled = true;
    try {
      const resp = await fetch(`/api/links/${encodeURIComponent(current.token)}`, {
        method: "DELETE", headers: headers(),
      });
      if (resp.status === 204 || resp.ok) {
        btn.textContent = t("create.revoked");
        $("join-btn").classList.add("disabled");
        $("join-btn").setAttribute("aria-disabled", "true");
        showNotice("ok", t("create.revokedNotice"));
        return;
      }
      showNotice("error", await errorMessage(resp));
      if (resp.status === 401 || resp.status === 403) $("advanced").open = true;
      btn.disabled = false;
    } catch (err) {
      showNotice("error", t("create.unreachable", { error: err.message }));
      btn.disabled = false;
    }
  });
}

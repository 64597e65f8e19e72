// The operator page (/stats): fetches /api/stats every two seconds and draws
// the calls, their participants and the SFU processes. Text only (textContent):
// names come from participants.
"use strict";

const REFRESH_MS = 2000;
const KEY_STORAGE = "callsfu.apiKey";
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function rate(bits) {
  if (bits === null || bits === undefined) return "–";
  if (bits >= 1e6) return (bits / 1e6).toFixed(2) + " Mbit/s";
  if (bits >= 1e3) return (bits / 1e3).toFixed(0) + " kbit/s";
  return bits + " bit/s";
}
const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(1) + " %");
const ms = (x) => (x === null || x === undefined ? "–" : x.toFixed(1) + " ms");

// a header row: labels ending in "#" head a column of numbers (aligned right)
function headRow(labels) {
  return el("tr", {}, ...labels.map((h) => (h.endsWith("#") ? el("th", { class: "num" }, h.slice(0, -1)) : el("th", {}, h))));
}

function stat(value, label) {
  return el("div", { class: "stat" }, el("b", {}, value), el("span", {}, label));
}

function drawSummary(data) {
  const calls = data.calls.length;
  const people = data.calls.reduce((n, c) => n + c.participants.length, 0);
  const viewers = data.calls.reduce((n, c) => n + (c.viewers || 0), 0);
  const t = data.totals;
  $("summary").replaceChildren(
    stat(calls, calls === 1 ? "call" : "calls"),
    stat(people, people === 1 ? "participant" : "participants"),
    stat(viewers, "viewers"),
    stat((t.forwarded_packets.audio + t.forwarded_packets.video).toLocaleString(), "packets forwarded"),
    stat((t.rtx_packets.audio + t.rtx_packets.video).toLocaleString(), "retransmissions"),
    stat(t.keyframe_requests.toLocaleString(), "keyframe requests"),
  );
}

const lastCpu = new Map(); // worker id -> [cpu seconds, time]

function drawWorkers(workers) {
  const rows = workers.map((w) => {
    const now = performance.now() / 1000;
    const before = lastCpu.get(w.id);
    lastCpu.set(w.id, [w.cpu_seconds, now]);
    const load = before && now > before[1] ? (w.cpu_seconds - before[0]) / (now - before[1]) : null;
    return el("tr", {}, el("td", {}, w.id), el("td", { class: "num" }, w.pid), el("td", { class: "num" }, w.calls),
      el("td", { class: "num" }, w.participants), el("td", { class: "num" }, w.viewers || 0),
      el("td", { class: "num", "data-cpu": w.id }, load === null ? "…" : pct(load)));
  });
  const head = headRow(["worker", "pid#", "calls#", "participants#", "viewers#", "CPU#"]);
  $("workers").replaceChildren(el("div", { class: "stats-card" }, el("h2", {}, "SFU processes"), el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows))));
}

function drawCalls(calls) {
  const names = new Map();
  for (const c of calls) for (const p of c.participants) names.set(p.id, p.name);
  const cards = calls.map((c) => {
    const head = headRow(["participant", "publishes", "in#", "out#", "loss in#", "loss out#", "RTT#", "jitter#", "receives"]);
    const rows = c.participants.map((p) => {
      const layer = (r) => (r.layer ? ` (${r.layer}${r.frame ? " " + r.frame : ""})` : "");
      const receives = p.receives.map((r) => `${names.get(r.participant_id) || r.participant_id} ${r.kind}${layer(r)}`).join(", ");
      return el("tr", { "data-participant": p.id },
        el("td", {}, el("b", {}, p.name), el("span", { class: "meta" }, p.id)),
        el("td", {}, p.publishes.join(" + ") || "–"),
        el("td", { class: "num" }, rate(p.bitrate_in)), el("td", { class: "num" }, rate(p.bitrate_out)),
        el("td", { class: "num" }, pct(p.loss_in)), el("td", { class: "num" }, pct(p.loss_out)),
        el("td", { class: "num" }, ms(p.rtt_ms)), el("td", { class: "num" }, ms(p.jitter_ms)),
        el("td", { class: "receives" }, receives || "–"));
    });
    const title = el("h2", {}, c.title || "Untitled call", el("span", { class: "meta" }, `${c.type} call · ${c.participants.length} ${c.participants.length === 1 ? "participant" : "participants"} · ${c.viewers || 0} viewers · ${c.id}`));
    return el("div", { class: "stats-card call", "data-call": c.id }, title, el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)));
  });
  $("calls").replaceChildren(...cards);
  $("empty").hidden = calls.length > 0;
}

async function refresh() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  const headers = key ? { Authorization: "Bearer " + key } : {};
  try {
    const resp = await fetch("/api/stats", { headers, cache: "no-store" });
    if (resp.status === 401 || resp.status === 403) {
      $("key-form").hidden = false;
      const body = await resp.json().catch(() => ({}));
      throw new Error((body.error && body.error.message) || "not allowed");
    }
    if (!resp.ok) throw new Error("HTTP " + resp.status);
    const data = await resp.json();
    $("key-form").hidden = true;
    drawSummary(data);
    drawWorkers(data.workers);
    drawCalls(data.calls);
    $("state").textContent = "Updated " + new Date().toLocaleTimeString();
    $("state").classList.remove("error");
  } catch (err) {
    $("state").textContent = "Not updated: " + err.message;
    $("state").classList.add("error");
  }
}

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORAGE, $("key").value.trim());
  refresh();
});
refresh();
setInterval(refresh, REFRESH_MS);

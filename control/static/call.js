// callsfu browser client: the page at /call/TOKEN (docs/protocol.md, "Joining").
//
// Flow: GET /api/links/TOKEN -> lobby (preview, name) -> getUserMedia ->
// POST /api/links/TOKEN/join -> WebSocket ws_url -> welcome -> publish offer
// (no trickle: sent once ICE gathering is complete) -> answer every subscribe
// offer. Remote media is keyed on the subscribe connection's `mid` and the
// latest `tracks` snapshot only, never on track ids or msid.
"use strict";

(() => {
  const NAME_KEY = "callsfu.name";
  const MAX_NAME = 64;
  const VIDEO_CONSTRAINTS = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 24 } };
  const GATHER_TIMEOUT_MS = 5000;
  const SPEAK_THRESHOLD = 0.03; // linear audio level, about -30 dBov
  const SPEAK_HOLD_MS = 450;
  const VIDEO_STALL_MS = 2500; // no decoded frame for this long: show the avatar instead
  const FULL_RETRIES_WHILE_RECONNECTING = 6;

  const parts = location.pathname.split("/").filter(Boolean);
  // A malformed escape (a "%" cut short when the link was copied) is an unknown link, not a crash.
  const decodePart = (part) => { try { return decodeURIComponent(part); } catch (_) { return ""; } };
  const TOKEN = parts[0] === "call" && parts[1] ? decodePart(parts[1]) : "";
  const params = new URLSearchParams(location.search);

  const $ = (id) => document.getElementById(id);

  // Small inline icons (no emoji: not every system has an emoji font).
  const svg = (body) => `<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">${body}</svg>`;
  const ICONS = {
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

  // ---------------------------------------------------------------- state
  const S = {
    state: "loading", // loading | lobby | joining | connecting | connected | reconnecting | left | ended | full | unavailable
    reason: null,     // why a message page is shown (link_not_found, link_revoked, call_full, ...)
    link: null,       // GET /api/links/TOKEN
    name: "",
    selfId: null,
    iceServers: [],
    participants: new Map(), // participant_id -> name, the others in the call
    gone: new Set(),         // participant ids that left during this session
    tracks: [],              // the latest `tracks` snapshot
    ws: null,
    session: 0,              // bumped per connection; stale callbacks check it
    welcomed: false,
    publishPc: null,
    subscribePc: null,
    audioSender: null,
    videoSender: null,
    localStream: null,
    mediaPromise: null,
    mediaNote: "",
    micOn: true,
    camOn: true,
    attempt: 0,
    fullRetries: 0,
    reconnectTimer: null,
    videoFrames: new Map(), // mid -> {frames, changedAt}
    statsLevels: new Map(), // mid -> audioLevel from getStats
    speakingUntil: new Map(), // participant id (or "self") -> time
    localLevel: 0,      // from the lobby's analyser (may stay 0 without a user gesture)
    localStatsLevel: 0, // from the publish connection's media-source stats
  };

  // ---------------------------------------------------------------- helpers
  function setState(state) {
    S.state = state;
    document.body.dataset.state = state;
    const conn = $("conn");
    if (["connecting", "connected", "reconnecting"].includes(state)) {
      conn.dataset.state = state;
      conn.textContent = { connecting: "Connecting…", connected: "Connected", reconnecting: "Reconnecting…" }[state];
    }
  }

  function show(viewId) {
    for (const id of ["view-loading", "view-message", "view-lobby", "view-call"]) $(id).hidden = id !== viewId;
  }

  function toast(text, kind = "error", ms = 4500) {
    const el = document.createElement("div");
    el.className = "toast " + kind;
    el.textContent = text;
    $("toasts").appendChild(el);
    setTimeout(() => el.remove(), ms);
  }

  async function readError(resp) {
    try {
      const body = await resp.json();
      if (body && body.error) return { status: resp.status, code: body.error.code, message: body.error.message };
    } catch (_) { /* not JSON */ }
    return { status: resp.status, code: "http_" + resp.status, message: `The server answered ${resp.status}.` };
  }

  function initials(name) {
    const words = (name || "?").trim().split(/\s+/).filter(Boolean);
    const chars = words.length > 1 ? [words[0], words[words.length - 1]].map((w) => [...w][0]) : [...(words[0] || "?")].slice(0, 2);
    return chars.join("").toUpperCase();
  }

  function colourFor(text) {
    let h = 0;
    for (const ch of text || "") h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return `hsl(${h % 360} 55% 42%)`;
  }

  function validName(name) {
    const n = [...name].length;
    return n >= 1 && n <= MAX_NAME;
  }

  function callMax() { return S.link ? S.link.max_participants : 32; }
  function isVideoCall() { return S.link && S.link.type === "video"; }

  function waitForGathering(pc) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        pc.removeEventListener("icegatheringstatechange", check);
        pc.removeEventListener("icecandidate", onCandidate);
        clearTimeout(timer);
        resolve();
      };
      const check = () => { if (pc.iceGatheringState === "complete") done(); };
      const onCandidate = (ev) => { if (!ev.candidate) done(); };
      const timer = setTimeout(done, GATHER_TIMEOUT_MS);
      pc.addEventListener("icegatheringstatechange", check);
      pc.addEventListener("icecandidate", onCandidate);
    });
  }

  // ---------------------------------------------------------------- message pages
  function showMessage({ state, reason, icon, title, text, actions = [] }) {
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
    document.title = `callsfu · ${title}`;
    show("view-message");
  }

  function showUnavailable(err) {
    const newLink = { label: "Create a new call link", href: "/" };
    const pages = {
      link_not_found: {
        icon: "search", title: "This call link doesn't exist",
        text: "Check that you have the whole link you were sent, or ask the host for a new one.",
      },
      link_expired: {
        icon: "clock", title: "This call link has expired",
        text: "Call links work for 90 days. This one has expired; ask the host for a new link.",
      },
      link_revoked: {
        icon: "ban", title: "This call link was revoked",
        text: "This link was revoked by its host. Ask them for a new link.",
      },
    };
    const page = pages[err.code] || {
      icon: "alert", title: "This call can't be opened",
      text: err.message || "Something went wrong; try again in a moment.",
    };
    showMessage({ state: "unavailable", reason: err.code, ...page, actions: [newLink] });
  }

  function showFull(max) {
    teardownConnection();
    showMessage({
      state: "full", reason: "call_full", icon: "users", title: "This call is full",
      text: `This call is full (${max} of ${max}). Try again when someone leaves.`,
      actions: [{ label: "Try again", primary: true, id: "retry-btn", onClick: () => join() }],
    });
  }

  // ---------------------------------------------------------------- start
  async function init() {
    if (!TOKEN) { showUnavailable({ code: "link_not_found" }); return; }
    let resp;
    try {
      resp = await fetch(`/api/links/${encodeURIComponent(TOKEN)}`, { cache: "no-store" });
    } catch (err) {
      showMessage({
        state: "unavailable", reason: "network", icon: "offline", title: "Can't reach the server",
        text: "Check your connection, then try again.",
        actions: [{ label: "Try again", primary: true, onClick: () => location.reload() }],
      });
      return;
    }
    if (!resp.ok) { showUnavailable(await readError(resp)); return; }
    S.link = await resp.json();
    showLobby();
  }

  // ---------------------------------------------------------------- lobby
  function lobbySubtitle() {
    const n = S.link.participants || 0;
    const who = n === 0 ? "Nobody is in the call yet" : n === 1 ? "1 person is in the call" : `${n} people are in the call`;
    return `${who} · up to ${callMax()}`;
  }

  function showLobby({ autojoin = params.get("autojoin") === "1" } = {}) {
    setState("lobby");
    S.reason = null;
    const video = isVideoCall();
    $("lobby-type").innerHTML = (video ? ICONS.video : ICONS.audio) + (video ? "Video call" : "Audio call");
    $("lobby-title").textContent = S.link.title || (video ? "Video call" : "Audio call");
    $("lobby-sub").textContent = lobbySubtitle();
    $("call-title").textContent = S.link.title || (video ? "Video call" : "Audio call");
    document.title = `callsfu · ${S.link.title || "Call"}`;
    $("cam-btn").hidden = !video;

    const input = $("name");
    let stored = "";
    try { stored = localStorage.getItem(NAME_KEY) || ""; } catch (_) { /* storage off */ }
    const fromUrl = params.get("name");
    input.value = (S.name || (fromUrl !== null ? fromUrl : stored)).slice(0, MAX_NAME);
    $("lobby-error").hidden = true;
    $("join-btn").disabled = false;
    $("join-btn").textContent = "Join call";
    show("view-lobby");
    updatePreviewAvatar();

    S.mediaPromise = acquireMedia();
    if (autojoin && validName(input.value.trim())) join();
    else input.focus();
  }

  function updatePreviewAvatar() {
    const av = $("preview-avatar");
    const name = $("name").value.trim();
    av.textContent = initials(name || "?");
    av.style.background = colourFor(name);
  }

  async function acquireMedia() {
    if (S.localStream && S.localStream.getTracks().some((t) => t.readyState === "live")) return S.localStream;
    S.localStream = null;
    S.mediaNote = "";
    const video = isVideoCall();
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      S.mediaNote = "Camera and microphone need a secure (HTTPS) page. You can still join to listen" + (video ? " and watch." : ".");
    } else {
      const tries = video
        ? [{ audio: true, video: VIDEO_CONSTRAINTS }, { audio: true }, { video: VIDEO_CONSTRAINTS }]
        : [{ audio: true }];
      let lastErr = null;
      for (const c of tries) {
        try { S.localStream = await navigator.mediaDevices.getUserMedia(c); break; } catch (err) { lastErr = err; }
      }
      if (!S.localStream) {
        const denied = lastErr && (lastErr.name === "NotAllowedError" || lastErr.name === "SecurityError");
        S.mediaNote = (denied ? "Camera and microphone are blocked." : "No camera or microphone found.")
          + " You can still join to listen" + (video ? " and watch." : ".");
      } else if (video && !S.localStream.getVideoTracks().length) {
        S.mediaNote = "No camera: others will see your initials.";
      } else if (!S.localStream.getAudioTracks().length) {
        S.mediaNote = "No microphone: others won't hear you.";
      }
    }
    S.micOn = true;
    S.camOn = true;
    const hasVideo = !!(S.localStream && S.localStream.getVideoTracks().length);
    const pv = $("preview-video");
    pv.srcObject = hasVideo ? new MediaStream(S.localStream.getVideoTracks()) : null;
    pv.hidden = !hasVideo;
    $("preview-avatar").hidden = hasVideo;
    $("preview-note").textContent = S.mediaNote;
    $("preview-note").hidden = !S.mediaNote;
    startLocalMeter();
    return S.localStream;
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
        S.localLevel = track.enabled ? rms : 0;
        $("preview-meter").style.width = Math.min(100, rms * 400) + "%";
        setTimeout(tick, 100);
      };
      tick();
      const resume = () => meterCtx && meterCtx.state === "suspended" && meterCtx.resume().catch(() => {});
      resume();
      document.addEventListener("click", resume, { once: true });
    } catch (_) { /* no meter */ }
  }

  // ---------------------------------------------------------------- joining
  $("lobby-form").addEventListener("submit", (ev) => { ev.preventDefault(); join(); });
  $("name").addEventListener("input", updatePreviewAvatar);

  async function requestJoin() {
    const resp = await fetch(`/api/links/${encodeURIComponent(TOKEN)}/join`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: S.name }),
      cache: "no-store",
    });
    if (resp.ok) return { ok: true, grant: await resp.json() };
    return { ok: false, err: await readError(resp) };
  }

  async function join() {
    const input = $("name");
    const name = (S.state === "lobby" ? input.value : S.name || input.value).trim();
    if (!validName(name)) {
      show("view-lobby");
      setState("lobby");
      $("lobby-error").textContent = `Enter a name of 1 to ${MAX_NAME} characters.`;
      $("lobby-error").hidden = false;
      input.focus();
      return;
    }
    S.name = name;
    try { localStorage.setItem(NAME_KEY, name); } catch (_) { /* storage off */ }
    $("lobby-error").hidden = true;
    $("join-btn").disabled = true;
    $("join-btn").textContent = "Joining…";
    setState("joining");
    if (!S.mediaPromise) S.mediaPromise = acquireMedia(); // the lobby's request, if still running, is reused
    await S.mediaPromise; // camera and microphone first: a ticket lives only 30 s
    let result;
    try {
      result = await requestJoin();
    } catch (err) {
      backToLobby("Could not reach the server. Check your connection and try again.");
      return;
    }
    if (result.ok) { S.attempt = 0; S.fullRetries = 0; enterCall(); connect(result.grant); return; }
    const err = result.err;
    if (err.code === "call_full") showFull(callMax());
    else if (err.status === 404 || err.status === 410) { stopLocalMedia(); showUnavailable(err); }
    else backToLobby(err.message);
  }

  function backToLobby(message) {
    show("view-lobby");
    setState("lobby");
    $("join-btn").disabled = false;
    $("join-btn").textContent = "Join call";
    $("lobby-error").textContent = message;
    $("lobby-error").hidden = false;
  }

  // ---------------------------------------------------------------- in-call view
  function enterCall() {
    show("view-call");
    $("banner").hidden = true;
    const grid = $("grid");
    grid.textContent = "";
    grid.classList.toggle("audio", !isVideoCall());
    S.participants.clear();
    S.gone.clear();
    S.tracks = [];
    grid.appendChild(makeSelfTile());
    updateControls();
    render();
  }

  function makeTile(pid, name, withVideo) {
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
    label.innerHTML = '<span class="speak-dot"></span><span class="name"></span><span class="mic-off" title="Microphone off"></span>';
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

  function makeSelfTile() {
    const el = makeTile(S.selfId || "self", S.name, isVideoCall());
    el.classList.add("self");
    el.dataset.self = "true";
    el.querySelector(".label .name").textContent = S.name + " (you)";
    const v = el.querySelector("video");
    const vt = S.localStream && S.localStream.getVideoTracks()[0];
    if (v && vt) { v.srcObject = new MediaStream([vt]); el.classList.add("has-video"); }
    return el;
  }

  function selfTile() { return $("grid").querySelector(".tile.self"); }

  function updateControls() {
    const audio = S.localStream && S.localStream.getAudioTracks()[0];
    const video = S.localStream && S.localStream.getVideoTracks()[0];
    const mic = $("mic-btn");
    mic.disabled = !audio;
    mic.setAttribute("aria-pressed", String(!S.micOn || !audio));
    $("mic-txt").textContent = !audio ? "No mic" : S.micOn ? "Mute" : "Unmute";
    mic.title = S.micOn ? "Mute microphone" : "Unmute microphone";
    const cam = $("cam-btn");
    cam.hidden = !isVideoCall();
    cam.disabled = !video;
    cam.setAttribute("aria-pressed", String(!S.camOn || !video));
    $("cam-txt").textContent = !video ? "No camera" : S.camOn ? "Camera off" : "Camera on";
    cam.title = S.camOn ? "Turn camera off" : "Turn camera on";
    const self = selfTile();
    if (self) {
      self.classList.toggle("mic-muted", !S.micOn || !audio);
      self.classList.toggle("has-video", !!video && S.camOn && isVideoCall());
    }
  }

  $("mic-btn").addEventListener("click", () => {
    const audio = S.localStream && S.localStream.getAudioTracks()[0];
    if (!audio) return;
    S.micOn = !S.micOn;
    audio.enabled = S.micOn;
    updateControls();
  });

  $("cam-btn").addEventListener("click", async () => {
    const video = S.localStream && S.localStream.getVideoTracks()[0];
    if (!video) return;
    S.camOn = !S.camOn;
    video.enabled = S.camOn;
    // Stop sending frames altogether, so the others see the avatar rather than black.
    if (S.videoSender) {
      try { await S.videoSender.replaceTrack(S.camOn ? video : null); } catch (_) { /* closed */ }
    }
    updateControls();
  });

  $("leave-btn").addEventListener("click", () => leave());

  function leave() {
    if (S.ws && S.ws.readyState === WebSocket.OPEN) {
      try { S.ws.send(JSON.stringify({ type: "leave" })); } catch (_) { /* closing */ }
    }
    teardownConnection();
    stopLocalMedia();
    showMessage({
      state: "left", reason: "left", icon: "exit", title: "You left the call",
      text: "The link still works: rejoin whenever you like.",
      actions: [
        { label: "Rejoin", primary: true, id: "rejoin-btn", onClick: () => showLobby({ autojoin: true }) },
        { label: "Create a new call link", href: "/" },
      ],
    });
  }

  window.addEventListener("pagehide", () => {
    if (S.ws && S.ws.readyState === WebSocket.OPEN) {
      try { S.ws.send(JSON.stringify({ type: "leave" })); } catch (_) { /* closing */ }
    }
  });

  function stopLocalMedia() {
    if (S.localStream) for (const t of S.localStream.getTracks()) t.stop();
    S.localStream = null;
    S.mediaPromise = null;
    if (meterCtx) { meterCtx.close().catch(() => {}); meterCtx = null; }
  }

  // ---------------------------------------------------------------- signaling
  function send(msg) {
    if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify(msg));
  }

  function connect(grant) {
    const session = ++S.session;
    S.selfId = grant.participant_id;
    S.iceServers = Array.isArray(grant.ice_servers) ? grant.ice_servers : [];
    S.welcomed = false;
    if (S.state !== "reconnecting") setState("connecting");
    const self = selfTile();
    if (self) self.dataset.participantId = S.selfId;
    let ws;
    try {
      ws = new WebSocket(grant.ws_url);
    } catch (err) {
      onDropped(session);
      return;
    }
    S.ws = ws;
    let chain = Promise.resolve();
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (_) { return; }
      // One message at a time, in order: offers and snapshots must not interleave.
      chain = chain.then(() => handle(session, msg)).catch((err) => {
        console.error("callsfu: handling", msg.type, err);
        if (session === S.session) toast(`Media setup failed (${msg.type}): ${err.message || err}`);
      });
    };
    ws.onclose = () => onDropped(session);
  }

  async function handle(session, msg) {
    if (session !== S.session) return;
    switch (msg.type) {
      case "welcome":
        S.welcomed = true;
        S.attempt = 0;
        S.fullRetries = 0;
        S.selfId = msg.participant_id || S.selfId;
        if (selfTile()) selfTile().dataset.participantId = S.selfId;
        S.participants = new Map((msg.participants || []).map((p) => [p.id, p.name]));
        S.gone.clear();
        S.tracks = [];
        if (msg.call && typeof msg.call.title === "string" && msg.call.title) $("call-title").textContent = msg.call.title;
        $("banner").hidden = true;
        $("publish-banner").hidden = true;
        render();
        startPublish(session).catch((err) => {
          console.error("callsfu: publish", err);
          if (session === S.session) toast("Could not send your camera and microphone: " + (err.message || err));
        });
        updateConnectionState();
        break;
      case "publish_answer":
        if (S.publishPc && S.publishPc.signalingState === "have-local-offer") {
          await S.publishPc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
        }
        break;
      case "subscribe":
        await answerSubscribe(session, msg.sdp);
        break;
      case "tracks":
        S.tracks = Array.isArray(msg.tracks) ? msg.tracks.map((t) => ({ ...t, mid: String(t.mid) })) : [];
        render();
        break;
      case "participant_joined":
        if (msg.participant) {
          S.gone.delete(msg.participant.id);
          S.participants.set(msg.participant.id, msg.participant.name);
          render();
        }
        break;
      case "participant_left":
        S.participants.delete(msg.participant_id);
        S.gone.add(msg.participant_id);
        render();
        break;
      case "error":
        if (S.publishPc && S.publishPc.signalingState === "have-local-offer" && msg.code === "bad_sdp") {
          publishRefused(msg.message);
          break;
        }
        toast(msg.message || `The server reported an error (${msg.code}).`);
        break;
      case "ended":
        onEnded(msg.reason);
        break;
      default:
        break; // newer servers may add messages
    }
  }

  function newPeerConnection(session) {
    const pc = new RTCPeerConnection({ iceServers: S.iceServers, bundlePolicy: "max-bundle" });
    pc.addEventListener("connectionstatechange", () => {
      if (session !== S.session) return;
      if (pc.connectionState === "failed") {
        // The media path is gone: drop the socket and join again.
        if (S.ws) S.ws.close(4000, "media failed");
        return;
      }
      updateConnectionState();
    });
    return pc;
  }

  async function startPublish(session) {
    const stream = S.localStream;
    const audio = stream && stream.getAudioTracks()[0];
    const video = isVideoCall() && stream ? stream.getVideoTracks()[0] : null;
    if (!audio && !video) { updateConnectionState(); return; } // listening and watching only
    const pc = newPeerConnection(session);
    S.publishPc = pc;
    S.audioSender = audio ? pc.addTrack(audio, stream) : null;
    S.videoSender = null;
    if (video) {
      S.videoSender = pc.addTrack(video, stream);
      if (!S.camOn) await S.videoSender.replaceTrack(null);
      preferVp8(pc.getTransceivers().find((t) => t.sender === S.videoSender));
    }
    await pc.setLocalDescription(await pc.createOffer());
    await waitForGathering(pc);
    if (session !== S.session) return;
    send({ type: "publish", sdp: pc.localDescription.sdp });
  }

  // The server refused our camera and microphone: stay in the call to listen and
  // watch, and say plainly that nobody sees or hears us.
  function publishRefused(message) {
    if (S.publishPc) { try { S.publishPc.close(); } catch (_) { /* already */ } }
    S.publishPc = S.audioSender = S.videoSender = null;
    $("publish-banner").textContent = "Others can't see or hear you: " + (message || "the server refused your media.");
    $("publish-banner").hidden = false;
    updateConnectionState();
  }

  function preferVp8(transceiver) {
    if (!transceiver || !transceiver.setCodecPreferences || !RTCRtpSender.getCapabilities) return;
    try {
      const codecs = RTCRtpSender.getCapabilities("video").codecs;
      const vp8 = codecs.filter((c) => c.mimeType.toLowerCase() === "video/vp8");
      const rtx = codecs.filter((c) => c.mimeType.toLowerCase() === "video/rtx");
      if (vp8.length) transceiver.setCodecPreferences([...vp8, ...rtx]);
    } catch (_) { /* keep the defaults; the server picks VP8 */ }
  }

  async function answerSubscribe(session, sdp) {
    if (!S.subscribePc) S.subscribePc = newPeerConnection(session);
    const pc = S.subscribePc;
    await pc.setRemoteDescription({ type: "offer", sdp });
    render();
    await pc.setLocalDescription(await pc.createAnswer());
    await waitForGathering(pc);
    if (session !== S.session) return;
    send({ type: "subscribe_answer", sdp: pc.localDescription.sdp });
    render();
  }

  function updateConnectionState() {
    if (!["connecting", "connected", "reconnecting"].includes(S.state)) return;
    if (!S.welcomed) return;
    const pcs = [S.publishPc, S.subscribePc].filter(Boolean);
    const bad = pcs.some((pc) => pc.connectionState === "disconnected" || pc.connectionState === "failed");
    const ready = !S.publishPc || S.publishPc.connectionState === "connected";
    setState(bad ? "reconnecting" : ready ? "connected" : "connecting");
    $("banner").hidden = S.state !== "reconnecting";
    if (S.state === "reconnecting") $("banner").textContent = "Reconnecting… your media connection was interrupted.";
  }

  function teardownConnection() {
    S.session++;
    clearTimeout(S.reconnectTimer);
    S.reconnectTimer = null;
    if (S.ws) {
      S.ws.onmessage = null;
      S.ws.onclose = null;
      try { S.ws.close(1000); } catch (_) { /* already */ }
    }
    S.ws = null;
    for (const pc of [S.publishPc, S.subscribePc]) if (pc) { try { pc.close(); } catch (_) { /* already */ } }
    S.publishPc = S.subscribePc = S.audioSender = S.videoSender = null;
    S.welcomed = false;
    S.participants.clear();
    S.tracks = [];
    S.videoFrames.clear();
    S.statsLevels.clear();
    for (const el of $("grid").querySelectorAll(".tile:not(.self)")) removeTile(el);
    updateCount();
  }

  function onEnded(reason) {
    if (reason === "server_shutdown") { onDropped(S.session); return; }
    teardownConnection();
    stopLocalMedia();
    if (reason === "link_revoked") {
      showMessage({
        state: "ended", reason, icon: "ban", title: "The call has ended",
        text: "The host ended this call by revoking the link. Ask them for a new link.",
        actions: [{ label: "Create a new call link", href: "/" }],
      });
    } else {
      showMessage({
        state: "ended", reason, icon: "phoneOff", title: "The call has ended",
        text: "The server ended this call.",
        actions: [{ label: "Create a new call link", href: "/" }],
      });
    }
  }

  // The socket dropped (or was never opened: a refused upgrade looks the same):
  // join again with a fresh ticket, backing off.
  function onDropped(session) {
    if (session !== S.session) return;
    if (!["connecting", "connected", "reconnecting", "joining"].includes(S.state)) return;
    teardownConnection();
    setState("reconnecting");
    const delay = Math.min(10000, 500 * 2 ** S.attempt) + Math.random() * 250;
    S.attempt += 1;
    $("banner").textContent = `Reconnecting… (attempt ${S.attempt})`;
    $("banner").hidden = false;
    const mySession = S.session;
    S.reconnectTimer = setTimeout(() => rejoin(mySession), delay);
  }

  async function rejoin(session) {
    if (session !== S.session || S.state !== "reconnecting") return;
    let result;
    try {
      result = await requestJoin();
    } catch (_) {
      onDropped(session);
      return;
    }
    if (session !== S.session || S.state !== "reconnecting") return;
    if (result.ok) { connect(result.grant); return; }
    const err = result.err;
    if (err.status === 404 || err.status === 410) { teardownConnection(); stopLocalMedia(); showUnavailable(err); return; }
    if (err.code === "call_full") {
      // Our own old seat may not be released yet: retry a few times first.
      S.fullRetries += 1;
      if (S.fullRetries > FULL_RETRIES_WHILE_RECONNECTING) { showFull(callMax()); return; }
    }
    onDropped(session);
  }

  // ---------------------------------------------------------------- remote media
  // participant id -> {audio: {mid, receiver}, video: {mid, receiver}}, from `tracks` and mids only.
  function remoteMedia() {
    const byMid = new Map();
    if (S.subscribePc) {
      for (const t of S.subscribePc.getTransceivers()) if (t.mid !== null) byMid.set(String(t.mid), t);
    }
    const media = new Map();
    for (const entry of S.tracks) {
      if (entry.participant_id === S.selfId) continue;
      if (entry.kind === "video" && !isVideoCall()) continue; // an audio call shows no video
      if (entry.kind !== "audio" && entry.kind !== "video") continue;
      const t = byMid.get(entry.mid);
      const m = media.get(entry.participant_id) || {};
      m[entry.kind] = { mid: entry.mid, receiver: t ? t.receiver : null };
      media.set(entry.participant_id, m);
    }
    return media;
  }

  function remoteTiles() {
    return [...$("grid").querySelectorAll(".tile:not(.self)")];
  }

  function removeTile(el) {
    for (const m of el.querySelectorAll("video, audio")) { m.srcObject = null; }
    el.remove();
  }

  function render() {
    const grid = $("grid");
    const media = remoteMedia();
    const wanted = new Map(S.participants);
    for (const pid of media.keys()) {
      if (!wanted.has(pid) && !S.gone.has(pid)) wanted.set(pid, "Guest");
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
    updateCount();
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
    }
    audio.srcObject = new MediaStream([track]);
    audio.play().catch(() => { $("sound-btn").hidden = false; });
  }

  $("sound-btn").addEventListener("click", () => {
    for (const a of document.querySelectorAll(".tile audio")) a.play().catch(() => {});
    $("sound-btn").hidden = true;
  });

  function updateCount() {
    const grid = $("grid");
    const n = S.participants.size + 1;
    const max = callMax();
    $("count").innerHTML = "";
    const strong = document.createElement("span");
    strong.textContent = `${n} of ${max}`;
    const long = document.createElement("span");
    long.className = "long";
    long.textContent = " participants";
    $("count").append(strong, long);
    $("count").title = `${n} of ${max} participants`;
    $("count").setAttribute("aria-label", `${n} of ${max} participants`);
    grid.dataset.count = String(grid.children.length);
  }

  // A remote tile shows its video while frames are being decoded, its avatar otherwise.
  function refreshVideoVisibility() {
    const now = performance.now();
    for (const el of remoteTiles()) {
      const mid = el.dataset.videoMid;
      const f = mid ? S.videoFrames.get(mid) : null;
      el.classList.toggle("has-video", !!(f && f.frames > 0 && now - f.changedAt < VIDEO_STALL_MS));
    }
  }

  async function pollStats() {
    const pc = S.subscribePc;
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
            const prev = S.videoFrames.get(mid);
            const frames = r.framesDecoded || 0;
            if (!prev || prev.frames !== frames) S.videoFrames.set(mid, { frames, changedAt: now });
          } else if (r.kind === "audio" && typeof r.audioLevel === "number") {
            S.statsLevels.set(mid, r.audioLevel);
          }
        });
      } catch (_) { /* closed meanwhile */ }
    }
    const pub = S.publishPc;
    if (pub && pub.connectionState !== "closed") {
      try {
        let level = 0;
        (await pub.getStats()).forEach((r) => {
          if (r.type === "media-source" && r.kind === "audio" && typeof r.audioLevel === "number") level = r.audioLevel;
        });
        S.localStatsLevel = level;
      } catch (_) { /* closed meanwhile */ }
    } else {
      S.localStatsLevel = 0;
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
      if (level === null && el._audioMid) level = S.statsLevels.get(el._audioMid) || 0;
      const pid = el.dataset.participantId;
      if (level > SPEAK_THRESHOLD) S.speakingUntil.set(pid, now + SPEAK_HOLD_MS);
      el.classList.toggle("speaking", (S.speakingUntil.get(pid) || 0) > now);
    }
    const self = selfTile();
    if (self) {
      if (S.micOn && Math.max(S.localLevel, S.localStatsLevel) > SPEAK_THRESHOLD) S.speakingUntil.set("self", now + SPEAK_HOLD_MS);
      self.classList.toggle("speaking", (S.speakingUntil.get("self") || 0) > now);
    }
    setTimeout(pollSpeaking, 200);
  }

  // ---------------------------------------------------------------- test hook
  window.callsfu = {
    get state() { return S.state; },
    get reason() { return S.reason; },
    get selfId() { return S.selfId; },
    get name() { return S.name; },
    get link() { return S.link; },
    get participants() { return Object.fromEntries(S.participants); },
    get tracks() { return S.tracks.map((t) => ({ ...t })); },
    get publishPc() { return S.publishPc; },
    get subscribePc() { return S.subscribePc; },
    get localStream() { return S.localStream; },
    // One entry per remote participant's tile (your own self-view is not included).
    tiles: () => remoteTiles().map((el) => ({
      participant_id: el.dataset.participantId,
      name: el.dataset.name,
      kind: el.dataset.kind || "audio",
      mid: el.dataset.mid || null,
      audio_mid: el.dataset.audioMid || null,
      video_mid: el.dataset.videoMid || null,
    })),
  };

  pollStats();
  pollSpeaking();
  init();
})();

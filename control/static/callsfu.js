// callsfu.js: the protocol client of a callsfu call link, as one ES module with
// no UI (docs/client.md; the wire protocol: docs/protocol.md).
//
//   import { CallClient, fetchLink } from "/static/callsfu.js";
//   const link = await fetchLink(token);                 // GET /api/links/TOKEN (throws CallError)
//   const call = new CallClient({ token, name: "Ada", video: link.type === "video" });
//   call.setLocalTracks({ audio: micTrack, video: cameraTrack });   // before join; null: listen only
//   call.on("media", (media) => draw(media));            // participant id -> {audio, video, screen}
//   call.on("state", ({ state }) => ...);                // joining | connecting | connected | reconnecting | closed
//   await call.join();                                   // POST .../join, then the WebSocket (throws CallError)
//   call.leave();
//
// Flow: POST /api/links/TOKEN/join -> WebSocket ws_url -> welcome -> publish
// offer (no trickle: sent once ICE gathering is complete) -> answer every
// subscribe offer. Remote media is keyed on the subscribe connection's `mid`
// and the latest `tracks` snapshot only, never on track ids or msid. When the
// socket or a media connection drops (or the server sends `rejoin`), the
// client joins again by itself with a fresh ticket, backing off.
//
// Events (`call.on(type, fn)` returns a function that unsubscribes):
//   message      every signaling message from the server, as parsed JSON, before
//                the client acts on it (`speakers`, `rejoin`, newer types...)
//   state        {state, attempt}: joining, connecting, connected, reconnecting, closed
//   welcome      the welcome message
//   participants Map participant id -> name (the others), on every change
//   tracks       the latest `tracks` snapshot (array of {participant_id, kind, mid, source})
//   media        Map participant id -> {audio, video, screen}: each {mid, receiver, source}
//   ended        {reason, error?}: the call is over for this client (revoked link,
//                ended by the server, the link gone while rejoining, still full)
//   publish-refused {message}: the server refused our media; we stay to listen and watch
//   error        {code, message}: an error message from the server, or a failed media setup
//
// Hooks (all optional): `new CallClient({hooks: {...}})` or `call.use({...})`
// before join; several modules may each add theirs (they run in order, and a
// hook that returns a value passes it on to the next):
//   peerConnectionConfig(config, role)       -> config  (role: "publish" | "subscribe")
//   transceiverInit(init, {kind, source})    -> init    (e.g. add sendEncodings for simulcast)
//   publishTransceiver(transceiver, {kind, source})     after each publish transceiver is made
//   sender(sender, {kind, source})                      each RTCRtpSender (encoded transforms)
//   receiver(receiver, {mid, kind, transceiver})        each RTCRtpReceiver of the subscribe connection
//   joinFields(fields)                       -> fields  (more of each join's body: {e2ee: true})

export const MAX_NAME = 64;
const GATHER_TIMEOUT_MS = 5000;
const FULL_RETRIES_WHILE_RECONNECTING = 6;
export const SOURCES = ["microphone", "camera", "screen"];

/** A refusal from the server: HTTP status, machine code, sentence. */
export class CallError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "CallError";
    this.status = status;
    this.code = code;
  }
}

async function readError(resp) {
  try {
    const body = await resp.json();
    if (body && body.error) return new CallError(resp.status, body.error.code, body.error.message);
  } catch (_) { /* not JSON */ }
  return new CallError(resp.status, "http_" + resp.status, `The server answered ${resp.status}.`);
}

function apiBase(base) { return (base || "").replace(/\/$/, ""); }

/** GET /api/links/TOKEN: {type, title, max_participants, participants, expires_at, ...}. */
export async function fetchLink(token, { base = "" } = {}) {
  const resp = await fetch(`${apiBase(base)}/api/links/${encodeURIComponent(token)}`, { cache: "no-store" });
  if (!resp.ok) throw await readError(resp);
  return resp.json();
}

/** POST /api/links/TOKEN/join: the grant {participant_id, ws_url, ice_servers, ...}.
 *  `fields`: more of the body ({e2ee: true} from a client that encrypts end to end). */
export async function requestJoin(token, name, { base = "", fields = {} } = {}) {
  const resp = await fetch(`${apiBase(base)}/api/links/${encodeURIComponent(token)}/join`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ...fields, name }),
    cache: "no-store",
  });
  if (!resp.ok) throw await readError(resp);
  return resp.json();
}

export function waitForGathering(pc, timeoutMs = GATHER_TIMEOUT_MS) {
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
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
    pc.addEventListener("icecandidate", onCandidate);
  });
}

function preferVp8(transceiver) {
  if (!transceiver || !transceiver.setCodecPreferences || !window.RTCRtpSender || !RTCRtpSender.getCapabilities) return;
  try {
    const codecs = RTCRtpSender.getCapabilities("video").codecs;
    const vp8 = codecs.filter((c) => c.mimeType.toLowerCase() === "video/vp8");
    const rtx = codecs.filter((c) => c.mimeType.toLowerCase() === "video/rtx");
    if (vp8.length) transceiver.setCodecPreferences([...vp8, ...rtx]);
  } catch (_) { /* keep the defaults; the server picks VP8 */ }
}

/** A small event emitter: on(type, fn) -> unsubscribe, off, emit. */
export class Emitter {
  constructor() { this._handlers = new Map(); }
  on(type, fn) {
    if (!this._handlers.has(type)) this._handlers.set(type, new Set());
    this._handlers.get(type).add(fn);
    return () => this.off(type, fn);
  }
  off(type, fn) { const set = this._handlers.get(type); if (set) set.delete(fn); }
  emit(type, value) {
    for (const fn of [...(this._handlers.get(type) || [])]) {
      try { fn(value); } catch (err) { console.error(`callsfu: a '${type}' handler failed`, err); }
    }
  }
}

export class CallClient extends Emitter {
  /**
   * @param {{token: string, name: string, video?: boolean, base?: string, maxParticipants?: number,
   *          hooks?: object}} options  video: whether video is sent and shown (a video call)
   */
  constructor({ token, name = "", video = true, base = "", maxParticipants = 32, hooks = {} }) {
    super();
    this.token = token;
    this.name = name;
    this.video = video;
    this.base = base;
    this.maxParticipants = maxParticipants;
    this._hooks = [];
    this.use(hooks);
    this.state = "idle";
    this.selfId = null;
    this.iceServers = [];
    this.participants = new Map();
    this.gone = new Set();
    this.tracks = [];
    this.ws = null;
    this.publishPc = null;
    this.subscribePc = null;
    this.senders = new Map(); // source -> RTCRtpSender
    this.local = { microphone: null, camera: null, screen: null }; // source -> track (null: none)
    this.localStream = null;
    this.welcomed = false;
    this.attempt = 0;
    this._session = 0;
    this._fullRetries = 0;
    this._reconnectTimer = null;
    this._pageHide = () => this._sendLeave();
  }

  // -------------------------------------------------------------- public API
  /** Add hooks (see the header): {peerConnectionConfig, transceiverInit, publishTransceiver, sender, receiver}. */
  use(hooks) {
    if (hooks && Object.keys(hooks).length) this._hooks.push(hooks);
    return this;
  }

  // Run hook `name` of every module in order; a returned value replaces `value`.
  _hook(name, value, info) {
    for (const h of this._hooks) {
      if (typeof h[name] !== "function") continue;
      try {
        const out = h[name](value, info);
        if (out !== undefined) value = out;
      } catch (err) { console.error(`callsfu: the '${name}' hook failed`, err); }
    }
    return value;
  }

  /** The tracks to publish: {audio, video, screen} (MediaStreamTrack or null). Before join. */
  setLocalTracks({ audio = null, video = null, screen = null } = {}) {
    this.local = { microphone: audio, camera: video, screen };
    this.localStream = new MediaStream([audio, video, screen].filter(Boolean));
  }

  /** The tracks given to setLocalTracks: {audio, video, screen}. */
  localTracks() {
    return { audio: this.local.microphone, video: this.local.camera, screen: this.local.screen };
  }

  /** Send any message on the signaling socket (false when it is not open). */
  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) { this.ws.send(JSON.stringify(msg)); return true; }
    return false;
  }

  /** Join the call: resolves once the socket is opening; throws CallError (call_full, link_*...). */
  async join(name = this.name) {
    this.name = name;
    this._setState("joining");
    let grant;
    try {
      grant = await requestJoin(this.token, this.name, { base: this.base, fields: this._hook("joinFields", {}) });
    } catch (err) {
      this._setState("idle");
      throw err;
    }
    this.attempt = 0;
    this._fullRetries = 0;
    window.addEventListener("pagehide", this._pageHide);
    this._connect(grant);
    return grant;
  }

  /** Leave: tell the server, close everything. Local tracks are the caller's to stop. */
  leave() {
    this._sendLeave();
    this._teardown();
    window.removeEventListener("pagehide", this._pageHide);
    this._setState("closed");
  }

  /** Swap the track sent for `source` (same kind): no renegotiation. null stops sending. */
  async replaceTrack(source, track) {
    if (source in this.local && track !== undefined) this.local[source] = track;
    const sender = this.senders.get(source);
    if (sender) { await sender.replaceTrack(track); return true; }
    // nothing of this source was sent yet (joined without a microphone...): a new section
    if (track && (source === "microphone" || this.video)) this._renegotiatePublish();
    return false;
  }

  /** Pause (or resume) sending `source` without forgetting its track: the others see the avatar. */
  async pause(source, paused) {
    const sender = this.senders.get(source);
    if (sender) await sender.replaceTrack(paused ? null : this.local[source]);
  }

  /**
   * Start or stop sending a second kind of video (the screen): a new publish
   * offer with the section's source in `sources`. null stops it.
   */
  async setScreen(track) {
    this.local.screen = track || null;
    if (!this.video) return;
    const sender = this.senders.get("screen");
    if (sender && this.publishPc) {
      // the section stays; inactive while nothing is shared (the server then
      // withdraws the track from everyone's `tracks`)
      const t = this.publishPc.getTransceivers().find((x) => x.sender === sender);
      await sender.replaceTrack(track || null);
      if (t) t.direction = track ? "sendrecv" : "inactive";
    }
    if (track || sender) this._renegotiatePublish();
  }

  /** participant id -> {audio, video, screen}: {mid, receiver, source}, from `tracks` and mids only. */
  remoteMedia() {
    const byMid = new Map();
    if (this.subscribePc) {
      for (const t of this.subscribePc.getTransceivers()) if (t.mid !== null) byMid.set(String(t.mid), t);
    }
    const media = new Map();
    for (const entry of this.tracks) {
      if (entry.participant_id === this.selfId) continue;
      if (entry.kind !== "audio" && entry.kind !== "video") continue;
      if (entry.kind === "video" && !this.video) continue; // an audio call shows no video
      const source = entry.source || (entry.kind === "audio" ? "microphone" : "camera");
      const slot = entry.kind === "audio" ? "audio" : source === "screen" ? "screen" : "video";
      const t = byMid.get(entry.mid);
      const m = media.get(entry.participant_id) || {};
      m[slot] = { mid: entry.mid, receiver: t ? t.receiver : null, source };
      media.set(entry.participant_id, m);
    }
    return media;
  }

  // -------------------------------------------------------------- internals
  _setState(state) {
    if (this.state === state && state !== "reconnecting") return;
    this.state = state;
    this.emit("state", { state, attempt: this.attempt });
  }

  _sendLeave() {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      try { this.ws.send(JSON.stringify({ type: "leave" })); } catch (_) { /* closing */ }
    }
  }

  _connect(grant) {
    const session = ++this._session;
    this.selfId = grant.participant_id;
    this.iceServers = Array.isArray(grant.ice_servers) ? grant.ice_servers : [];
    this.welcomed = false;
    if (this.state !== "reconnecting") this._setState("connecting");
    let ws;
    try {
      ws = new WebSocket(grant.ws_url);
    } catch (_) {
      this._dropped(session);
      return;
    }
    this.ws = ws;
    let chain = Promise.resolve();
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (_) { return; }
      if (!msg || typeof msg !== "object") return;
      // One message at a time, in order: offers and snapshots must not interleave.
      chain = chain.then(() => this._handle(session, msg)).catch((err) => {
        console.error("callsfu: handling", msg.type, err);
        if (session === this._session) this.emit("error", { code: "media_setup", message: `Media setup failed (${msg.type}): ${err.message || err}` });
      });
    };
    ws.onclose = () => this._dropped(session);
  }

  async _handle(session, msg) {
    if (session !== this._session) return;
    this.emit("message", msg);
    if (session !== this._session) return;
    switch (msg.type) {
      case "welcome":
        this.welcomed = true;
        this.attempt = 0;
        this._fullRetries = 0;
        this.selfId = msg.participant_id || this.selfId;
        this.participants = new Map((msg.participants || []).map((p) => [p.id, p.name]));
        this.gone.clear();
        this.tracks = [];
        this.emit("welcome", msg);
        this.emit("participants", this.participants);
        this.emit("media", this.remoteMedia());
        this._startPublish(session).catch((err) => {
          console.error("callsfu: publish", err);
          if (session === this._session) this.emit("error", { code: "publish_failed", message: "Could not send your camera and microphone: " + (err.message || err) });
        });
        this._updateConnectionState();
        break;
      case "publish_answer":
        if (this.publishPc && this.publishPc.signalingState === "have-local-offer") {
          await this.publishPc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
          if (this._publishAgain) { this._publishAgain = false; this._renegotiatePublish(); }
        }
        break;
      case "subscribe":
        await this._answerSubscribe(session, msg.sdp);
        break;
      case "tracks":
        this.tracks = Array.isArray(msg.tracks) ? msg.tracks.map((t) => ({ ...t, mid: String(t.mid) })) : [];
        this.emit("tracks", this.tracks);
        this.emit("media", this.remoteMedia());
        break;
      case "participant_joined":
        if (msg.participant) {
          this.gone.delete(msg.participant.id);
          this.participants.set(msg.participant.id, msg.participant.name);
          this.emit("participants", this.participants);
        }
        break;
      case "participant_left":
        this.participants.delete(msg.participant_id);
        this.gone.add(msg.participant_id);
        this.emit("participants", this.participants);
        break;
      case "error":
        if (this.publishPc && this.publishPc.signalingState === "have-local-offer" && msg.code === "bad_sdp") {
          this._publishRefused(msg.message);
          break;
        }
        this.emit("error", { code: msg.code, message: msg.message || `The server reported an error (${msg.code}).` });
        break;
      case "ended":
        if (msg.reason === "server_shutdown") this._dropped(session);
        else this._end({ reason: msg.reason });
        break;
      case "rejoin":
        this._dropped(session, 0); // the call moved: join again at once
        break;
      default:
        break; // newer servers may add messages (the `message` event has them)
    }
  }

  _newPeerConnection(session, role) {
    const config = this._hook("peerConnectionConfig", { iceServers: this.iceServers, bundlePolicy: "max-bundle" }, role);
    const pc = new RTCPeerConnection(config);
    pc.addEventListener("connectionstatechange", () => {
      if (session !== this._session) return;
      if (pc.connectionState === "failed") {
        // The media path is gone: drop the socket and join again.
        if (this.ws) this.ws.close(4000, "media failed");
        return;
      }
      this._updateConnectionState();
    });
    return pc;
  }

  _addPublishTransceiver(pc, kind, source, track) {
    const init = this._hook("transceiverInit", { direction: "sendrecv", streams: [this.localStream || new MediaStream()] }, { kind, source });
    const transceiver = pc.addTransceiver(track || kind, init);
    if (kind === "video") preferVp8(transceiver);
    this.senders.set(source, transceiver.sender);
    this._hook("publishTransceiver", transceiver, { kind, source });
    this._hook("sender", transceiver.sender, { kind, source });
    return transceiver;
  }

  async _startPublish(session) {
    const audio = this.local.microphone;
    const video = this.video ? this.local.camera : null;
    const screen = this.video ? this.local.screen : null;
    if (!audio && !video && !screen) { this._updateConnectionState(); return; } // listening and watching only
    const pc = this._newPeerConnection(session, "publish");
    this.publishPc = pc;
    this.senders.clear();
    if (audio) this._addPublishTransceiver(pc, "audio", "microphone", audio);
    if (video) this._addPublishTransceiver(pc, "video", "camera", video);
    if (screen && screen.readyState === "live") this._addPublishTransceiver(pc, "video", "screen", screen);
    await this._offerPublish(session);
  }

  /** The offer's mid -> source of every section we send. */
  _sources(pc) {
    const sources = {};
    for (const [source, sender] of this.senders) {
      const t = pc.getTransceivers().find((x) => x.sender === sender);
      if (t && t.mid !== null) sources[String(t.mid)] = source;
    }
    return Object.keys(sources).length ? sources : null;
  }

  async _offerPublish(session) {
    const pc = this.publishPc;
    await pc.setLocalDescription(await pc.createOffer());
    await waitForGathering(pc);
    if (session !== this._session || pc !== this.publishPc) return;
    const msg = { type: "publish", sdp: pc.localDescription.sdp };
    const sources = this._sources(pc);
    if (sources) msg.sources = sources;
    this.send(msg);
  }

  _renegotiatePublish() {
    const session = this._session;
    if (!this.welcomed) return; // the first publish will carry it
    if (!this.publishPc) {
      this._startPublish(session).catch((err) => this.emit("error", { code: "publish_failed", message: String(err.message || err) }));
      return;
    }
    if (this.publishPc.signalingState !== "stable") { this._publishAgain = true; return; }
    const missing = [["microphone", "audio"], ["camera", "video"], ["screen", "video"]];
    for (const [source, kind] of missing) {
      if (this.local[source] && (kind === "audio" || this.video) && !this.senders.has(source)) {
        this._addPublishTransceiver(this.publishPc, kind, source, this.local[source]);
      }
    }
    this._offerPublish(session).catch((err) => this.emit("error", { code: "publish_failed", message: String(err.message || err) }));
  }

  // The server refused our camera and microphone: stay in the call to listen and watch.
  _publishRefused(message) {
    if (this.publishPc) { try { this.publishPc.close(); } catch (_) { /* already */ } }
    this.publishPc = null;
    this.senders.clear();
    this.emit("publish-refused", { message: message || "the server refused your media." });
    this._updateConnectionState();
  }

  async _answerSubscribe(session, sdp) {
    if (!this.subscribePc) {
      const pc = this._newPeerConnection(session, "subscribe");
      this.subscribePc = pc;
      pc.addEventListener("track", (ev) => {
        this._hook("receiver", ev.receiver, { mid: ev.transceiver.mid, kind: ev.track.kind, transceiver: ev.transceiver });
      });
    }
    const pc = this.subscribePc;
    await pc.setRemoteDescription({ type: "offer", sdp });
    this.emit("media", this.remoteMedia());
    await pc.setLocalDescription(await pc.createAnswer());
    await waitForGathering(pc);
    if (session !== this._session) return;
    this.send({ type: "subscribe_answer", sdp: pc.localDescription.sdp });
    this.emit("media", this.remoteMedia());
  }

  _updateConnectionState() {
    if (!["connecting", "connected", "reconnecting"].includes(this.state) || !this.welcomed) return;
    const pcs = [this.publishPc, this.subscribePc].filter(Boolean);
    const bad = pcs.some((pc) => pc.connectionState === "disconnected" || pc.connectionState === "failed");
    const ready = !this.publishPc || this.publishPc.connectionState === "connected";
    const next = bad ? "reconnecting" : ready ? "connected" : "connecting";
    if (next !== this.state) this._setState(next);
  }

  _teardown() {
    this._session++;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    if (this.ws) {
      this.ws.onmessage = null;
      this.ws.onclose = null;
      try { this.ws.close(1000); } catch (_) { /* already */ }
    }
    this.ws = null;
    for (const pc of [this.publishPc, this.subscribePc]) if (pc) { try { pc.close(); } catch (_) { /* already */ } }
    this.publishPc = this.subscribePc = null;
    this.senders.clear();
    this._publishAgain = false;
    this.welcomed = false;
    this.participants = new Map();
    this.tracks = [];
    this.emit("participants", this.participants);
    this.emit("media", new Map());
  }

  _end(detail) {
    this._teardown();
    window.removeEventListener("pagehide", this._pageHide);
    this._setState("closed");
    this.emit("ended", detail);
  }

  // The socket dropped (or was never opened: a refused upgrade looks the same):
  // join again with a fresh ticket, backing off.
  _dropped(session, delayMs) {
    if (session !== this._session) return;
    if (!["connecting", "connected", "reconnecting"].includes(this.state)) return;
    this._teardown();
    const delay = delayMs !== undefined ? delayMs : Math.min(10000, 500 * 2 ** this.attempt) + Math.random() * 250;
    this.attempt += 1;
    this._setState("reconnecting");
    const mine = this._session;
    this._reconnectTimer = setTimeout(() => this._rejoin(mine), delay);
  }

  async _rejoin(session) {
    if (session !== this._session || this.state !== "reconnecting") return;
    let grant;
    try {
      grant = await requestJoin(this.token, this.name, { base: this.base, fields: this._hook("joinFields", {}) });
    } catch (err) {
      if (session !== this._session || this.state !== "reconnecting") return;
      if (err instanceof CallError && (err.status === 404 || err.status === 410)) { this._end({ reason: err.code, error: err }); return; }
      if (err instanceof CallError && err.code === "call_full") {
        // Our own old seat may not be released yet: retry a few times first.
        this._fullRetries += 1;
        if (this._fullRetries > FULL_RETRIES_WHILE_RECONNECTING) {
          this._end({ reason: "call_full", error: err });
          return;
        }
      }
      this._dropped(session);
      return;
    }
    if (session !== this._session || this.state !== "reconnecting") return;
    this._connect(grant);
  }
}

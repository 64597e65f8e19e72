// callsfu end-to-end encryption: the frame transform, in a dedicated worker
// (docs/protocol.md, "End-to-end encrypted calls"). The page (e2ee.js) sends
// the link key once, as a non-extractable HKDF CryptoKey, then attaches this
// worker to every sender and receiver: RTCRtpScriptTransform where the
// browser has it (an `rtctransform` event here), else Chromium's encoded
// streams (a `stream` message with the readable and writable).
//
// Frame on the wire: clear prefix (n) | AES-256-GCM(rest, AAD = prefix) with
// its 16-byte tag | CTR (4, big-endian) | KID (8) | n (1).
//   key = HKDF-SHA-256(link key, salt "callsfu e2ee v1", info "callsfu frame key" | KID)
//   IV  = KID | CTR (12 bytes); every sending track has its own random KID.
//   n   = 10 for VP8 key frames, 3 for VP8 delta frames, 0 for Opus.
// A frame that does not decrypt is dropped, never passed to the decoder.
"use strict";

const TRAILER = 13; // CTR (4) + KID (8) + n (1)
const TAG = 16;
const MAX_KEYS = 64; // receive keys kept (one per sender key id seen)
const STATS_MS = 500;
const SALT = new TextEncoder().encode("callsfu e2ee v1");
const FRAME_INFO = new TextEncoder().encode("callsfu frame key");

let baseKey = null;
let keyReady;
const keyArrived = new Promise((resolve) => { keyReady = resolve; });
const keys = new Map(); // KID hex -> Promise<CryptoKey>, oldest first
const stats = new Map(); // transform id -> {operation, kind, mid, encrypted, decrypted, failed, lastError}
let statsDirty = false;

function hex(bytes) {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

function frameKey(kid) {
  const id = hex(kid);
  let key = keys.get(id);
  if (key) { keys.delete(id); keys.set(id, key); return key; } // most recently used last
  const info = new Uint8Array(FRAME_INFO.length + kid.length);
  info.set(FRAME_INFO);
  info.set(kid, FRAME_INFO.length);
  key = crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: SALT, info }, baseKey,
    { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"],
  );
  keys.set(id, key);
  while (keys.size > MAX_KEYS) keys.delete(keys.keys().next().value);
  return key;
}

// Bytes left in clear: what the SFU and the receiver's depacketizer read.
function clearBytes(kind, frame, data) {
  if (kind !== "video") return 0;
  const key = frame.type ? frame.type === "key" : data.length > 0 && (data[0] & 0x01) === 0;
  return Math.min(data.length, key ? 10 : 3);
}

function newSender() {
  return { kid: crypto.getRandomValues(new Uint8Array(8)), ctr: 0 };
}

async function encrypt(frame, s, kind, st) {
  const data = new Uint8Array(frame.data);
  const n = clearBytes(kind, frame, data);
  if (s.ctr > 0xffffffff) Object.assign(s, newSender()); // never reuse an IV
  const ctr = s.ctr++;
  const iv = new Uint8Array(12);
  iv.set(s.kid);
  new DataView(iv.buffer).setUint32(8, ctr);
  const key = await frameKey(s.kid);
  const sealed = new Uint8Array(await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: data.subarray(0, n) }, key, data.subarray(n),
  ));
  const out = new Uint8Array(n + sealed.length + TRAILER);
  out.set(data.subarray(0, n));
  out.set(sealed, n);
  out.set(iv.subarray(8, 12), n + sealed.length);
  out.set(s.kid, n + sealed.length + 4);
  out[out.length - 1] = n;
  frame.data = out.buffer;
  st.encrypted++;
  return frame;
}

async function decrypt(frame, kind, st) {
  const data = new Uint8Array(frame.data);
  if (data.length === 0) return frame; // nothing to protect (an empty frame)
  const n = data[data.length - 1];
  if (data.length < n + TAG + TRAILER || n > (kind === "video" ? 10 : 0)) throw new Error("not an encrypted frame");
  const end = data.length - TRAILER;
  const kid = data.slice(end + 4, end + 12);
  const iv = new Uint8Array(12);
  iv.set(kid);
  iv.set(data.subarray(end, end + 4), 8);
  const key = await frameKey(kid);
  const plain = new Uint8Array(await crypto.subtle.decrypt(
    { name: "AES-GCM", iv, additionalData: data.subarray(0, n) }, key, data.subarray(n, end),
  ));
  const out = new Uint8Array(n + plain.length);
  out.set(data.subarray(0, n));
  out.set(plain, n);
  frame.data = out.buffer;
  st.decrypted++;
  return frame;
}

function attach(readable, writable, options) {
  const { id, operation, kind } = options;
  const st = { operation, kind, mid: options.mid ?? null, encrypted: 0, decrypted: 0, failed: 0, lastError: "" };
  stats.set(String(id), st);
  const sender = newSender();
  const transform = new TransformStream({
    async transform(frame, controller) {
      if (!baseKey) await keyArrived;
      try {
        controller.enqueue(operation === "encrypt" ? await encrypt(frame, sender, kind, st) : await decrypt(frame, kind, st));
      } catch (err) {
        // Dropped: a frame we cannot authenticate is never decoded or shown;
        // one we could not encrypt is never sent in clear.
        st.failed++;
        st.lastError = err && err.name === "OperationError" ? "wrong key or altered frame" : String(err && err.message || err);
      }
      statsDirty = true;
    },
  });
  readable.pipeThrough(transform).pipeTo(writable).catch(() => { /* the connection closed */ });
}

self.onmessage = (ev) => {
  const msg = ev.data || {};
  if (msg.type === "key" && msg.key) {
    baseKey = msg.key;
    keys.clear();
    keyReady();
  } else if (msg.type === "stream" && msg.readable && msg.writable) {
    attach(msg.readable, msg.writable, msg.options || {});
  } else if (msg.type === "mid" && stats.has(String(msg.id))) {
    stats.get(String(msg.id)).mid = msg.mid;
  }
};

self.onrtctransform = (ev) => {
  const t = ev.transformer;
  attach(t.readable, t.writable, t.options || {});
};

setInterval(() => {
  if (!statsDirty) return;
  statsDirty = false;
  self.postMessage({ type: "stats", stats: Object.fromEntries(stats) });
}, STATS_MS);

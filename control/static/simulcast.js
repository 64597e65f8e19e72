// Simulcast (docs/protocol.md, "Simulcast"): the camera goes out as several
// VP8 encodings of one picture - a quarter, a half and the full size, rids q,
// h and f, smallest first - and the SFU forwards each viewer the one its tile
// and its bandwidth call for. The server answers the rids itself (aiortc
// cannot). Chromium sends fewer layers of a small camera than asked (and then
// drops the *last* ones, the full size): so a camera under 960x540 is sent as
// h and f only, under 480x270 as one encoding. Screen shares stay one encoding
// (text needs the full size). `?simulcast=0` on the call page turns it off;
// `?simulcast=3` asks for three layers whatever the camera's size (for a
// Chromium whose layer limit is off: WebRTC-LegacySimulcastLayerLimit/Disabled/).
import { onCall } from "./call-hooks.js";

export const LAYERS = Object.freeze([
  Object.freeze({ rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 }),
  Object.freeze({ rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500_000 }),
  Object.freeze({ rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1_500_000 }),
]);

/** The encodings for a camera of this size (pixels), as many as Chromium will send. */
export function layersFor(width, height, wanted = 0) {
  const pixels = (width || 0) * (height || 0);
  const count = wanted || (pixels >= 960 * 540 ? 3 : pixels >= 480 * 270 ? 2 : 1);
  return count < 2 ? null : LAYERS.slice(LAYERS.length - count).map((layer) => ({ ...layer }));
}

/** The transceiverInit hook of callsfu.js: sendEncodings for the camera. */
export function simulcastInit(init, { kind, source }, track, wanted = 0) {
  if (kind !== "video" || source !== "camera" || !track) return undefined;
  const { width, height } = track.getSettings ? track.getSettings() : {};
  const sendEncodings = layersFor(width, height, wanted);
  return sendEncodings ? { ...init, sendEncodings } : undefined;
}

const param = new URLSearchParams(location.search).get("simulcast");
if (param !== "0") {
  const wanted = param === "3" ? 3 : 0;
  onCall((client) => client.use({
    transceiverInit: (init, info) => simulcastInit(init, info, client.local && client.local.camera, wanted),
  }));
}

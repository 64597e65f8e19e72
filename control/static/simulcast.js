// Simulcast (docs/protocol.md, "Simulcast"): the camera goes out as three VP8
// encodings of one picture - a quarter, a half and the full size, rids q, h
// and f, lowest first - and the SFU forwards each viewer the one its tile and
// its bandwidth call for. The server answers the rids itself (aiortc cannot);
// an SFU or a browser that does not answer them gets one encoding, as before.
// Screen shares stay one encoding (text needs the full size). `?simulcast=0`
// on the call page turns it off.
import { onCall } from "./call-hooks.js";

export const LAYERS = Object.freeze([
  Object.freeze({ rid: "q", scaleResolutionDownBy: 4, maxBitrate: 150_000 }),
  Object.freeze({ rid: "h", scaleResolutionDownBy: 2, maxBitrate: 500_000 }),
  Object.freeze({ rid: "f", scaleResolutionDownBy: 1, maxBitrate: 1_500_000 }),
]);

/** The transceiverInit hook of callsfu.js: sendEncodings for the camera. */
export function simulcastInit(init, { kind, source }) {
  if (kind !== "video" || source !== "camera") return undefined;
  return { ...init, sendEncodings: LAYERS.map((layer) => ({ ...layer })) };
}

if (new URLSearchParams(location.search).get("simulcast") !== "0") {
  onCall((client) => client.use({ transceiverInit: simulcastInit }));
}

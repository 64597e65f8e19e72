// The smallest call page: only /static/callsfu.js, no UI modules (docs/client.md).
import { CallClient, fetchLink } from "/static/callsfu.js";

const params = new URLSearchParams(location.search);
const token = params.get("token");
const status = document.getElementById("status");
const videos = document.getElementById("videos");

const link = await fetchLink(token);
const video = link.type === "video";
let stream = null;
try { stream = await navigator.mediaDevices.getUserMedia({ audio: true, video }); } catch (_) { /* watch only */ }
const call = new CallClient({ token, name: params.get("name") || "Minimal", video });
call.setLocalTracks({ audio: stream && stream.getAudioTracks()[0], video: stream && stream.getVideoTracks()[0] });
call.on("state", ({ state }) => { status.textContent = state; });
call.on("media", (media) => {
  for (const [pid, m] of media) {
    for (const slot of ["video", "audio"]) {
      const track = m[slot] && m[slot].receiver && m[slot].receiver.track;
      const id = `${slot}-${pid}`;
      let el = document.getElementById(id);
      if (!track) { if (el) el.remove(); continue; }
      if (!el) {
        el = document.createElement(slot);
        el.id = id;
        el.dataset.participantId = pid;
        el.autoplay = true;
        el.playsInline = true;
        if (slot === "video") el.muted = true;
        videos.appendChild(el);
      }
      if (!el.srcObject || el.srcObject.getTracks()[0] !== track) el.srcObject = new MediaStream([track]);
    }
  }
  for (const el of [...videos.children]) if (!media.has(el.dataset.participantId)) el.remove();
});
window.minimal = call;
await call.join();

// Call page: the control bar (microphone, camera, leave).
import { $, S, isVideoCall } from "./ui.js";
import { selfTile } from "./grid.js";
import { t } from "./i18n.js";

export function updateControls() {
  const audio = S.localStream && S.localStream.getAudioTracks()[0];
  const video = S.localStream && S.localStream.getVideoTracks()[0];
  const mic = $("mic-btn");
  mic.disabled = !audio;
  mic.setAttribute("aria-pressed", String(!S.micOn || !audio));
  $("mic-txt").textContent = t(!audio ? "controls.noMic" : S.micOn ? "controls.mute" : "controls.unmute");
  mic.title = t(S.micOn ? "controls.muteTitle" : "controls.unmuteTitle");
  const cam = $("cam-btn");
  cam.hidden = !isVideoCall();
  cam.disabled = !video;
  cam.setAttribute("aria-pressed", String(!S.camOn || !video));
  $("cam-txt").textContent = t(!video ? "controls.noCamera" : S.camOn ? "controls.camOff" : "controls.camOn");
  cam.title = t(S.camOn ? "controls.camOffTitle" : "controls.camOnTitle");
  const self = selfTile();
  if (self) {
    self.classList.toggle("mic-muted", !S.micOn || !audio);
    self.classList.toggle("has-video", !!video && S.camOn && isVideoCall());
  }
}

export function bindControls({ leave }) {
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
    if (S.client) {
      try { await S.client.pause("camera", !S.camOn); } catch (_) { /* closed */ }
    }
    updateControls();
  });

  $("leave-btn").addEventListener("click", () => leave());
}

// Call page: where modules that extend the call (speakers.js, e2ee.js, ...) hook in.
//
//   import { onCall } from "./call-hooks.js";
//   onCall((client) => {                      // a new CallClient (callsfu.js), before it joins
//     client.on("message", (msg) => { if (msg.type === "speakers") ... });
//     client.use({ sender: (sender, { kind, source }) => ..., receiver: (receiver, { mid }) => ... });
//   });
//
//   onLink(async (link) => true);             // the link (GET /api/links/TOKEN) before the lobby:
//                                             // false when the module showed a page instead
//
// and add `import "./your-module.js";` to call.js.
export const callHooks = [];
export const linkChecks = [];

export function onCall(fn) { callHooks.push(fn); }
export function onLink(fn) { linkChecks.push(fn); }

// Call page: where modules that extend the call (speakers.js, e2ee.js, ...) hook in.
//
//   import { onCall } from "./call-hooks.js";
//   onCall((client) => {                      // a new CallClient (callsfu.js), before it joins
//     client.on("message", (msg) => { if (msg.type === "speakers") ... });
//     client.use({ sender: (sender, { kind, source }) => ..., receiver: (receiver, { mid }) => ... });
//   });
//
// and add `import "./your-module.js";` to call.js.
export const callHooks = [];

export function onCall(fn) { callHooks.push(fn); }

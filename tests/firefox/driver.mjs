// Drives Debian's Firefox ESR over WebDriver BiDi (puppeteer-core) for the
// Python tests: one browser per process, commands as JSON lines on stdin,
// one JSON line per answer on stdout ({id, ok, value} or {id, ok: false, error}).
//
//   {"id": 1, "cmd": "open", "url": "..."}          -> page number
//   {"id": 2, "cmd": "eval", "page": 0, "js": "async () => ..."}  -> its JSON value
//   {"id": 3, "cmd": "close", "page": 0}
//   {"id": 4, "cmd": "quit"}
import { createInterface } from "node:readline";
import puppeteer from "puppeteer-core";

const executablePath = process.env.CALLSFU_FIREFOX || "/usr/bin/firefox-esr";
// What makes WebRTC work headless inside a loopback-only network namespace:
// fake camera and microphone without a prompt, loopback candidates, and a
// persistent camera/microphone permission (without it Firefox gathers no
// candidate at all where there is no default route).
const prefs = {
  "media.navigator.streams.fake": true,
  "media.navigator.permission.disabled": true,
  "media.peerconnection.ice.loopback": true,
  "permissions.default.camera": 1,
  "permissions.default.microphone": 1,
  "media.autoplay.default": 0,
  "media.autoplay.blocking_policy": 0,
  "network.proxy.type": 0,
  "browser.shell.checkDefaultBrowser": false,
  "datareporting.policy.dataSubmissionEnabled": false,
  "toolkit.telemetry.enabled": false,
  "app.update.enabled": false,
};

const browser = await puppeteer.launch({
  browser: "firefox",
  executablePath,
  headless: true,
  protocol: "webDriverBiDi",
  extraPrefsFirefox: prefs,
});
const pages = [];

function reply(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

async function handle(msg) {
  switch (msg.cmd) {
    case "open": {
      const page = await browser.newPage();
      const logs = [];
      page.on("console", (m) => { logs.push(`${m.type()}: ${m.text()}`); if (logs.length > 200) logs.shift(); });
      page.on("pageerror", (e) => logs.push(`pageerror: ${e}`));
      page.callsfuLogs = logs;
      pages.push(page);
      await page.goto(msg.url, { waitUntil: "load", timeout: 20000 });
      return pages.length - 1;
    }
    case "eval": {
      const page = pages[msg.page];
      // the function's source is evaluated in the page and called with msg.arg
      return await page.evaluate(`(${msg.js})(${JSON.stringify(msg.arg ?? null)})`);
    }
    case "logs":
      return pages[msg.page].callsfuLogs.slice(-50);
    case "close": {
      const page = pages[msg.page];
      pages[msg.page] = null;
      if (page) await page.close();
      return null;
    }
    case "version":
      return await browser.version();
    case "quit":
      await browser.close();
      return null;
    default:
      throw new Error(`unknown command ${msg.cmd}`);
  }
}

const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (!line.trim()) continue;
  const msg = JSON.parse(line);
  try {
    reply({ id: msg.id, ok: true, value: (await handle(msg)) ?? null });
  } catch (err) {
    reply({ id: msg.id, ok: false, error: String(err && err.stack || err) });
  }
  if (msg.cmd === "quit") break;
}
await browser.close().catch(() => {});
process.exit(0);

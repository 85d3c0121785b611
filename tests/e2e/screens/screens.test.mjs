// The people's screens in a real browser (Debian's Chromium driven by playwright-core), through
// the HTTPS proxy of the end-to-end stack: what a visitor, an agent and a waiting room see.
//
//   node --test tests/e2e/screens/screens.test.mjs      (tests/e2e/test_screens.py runs it)
//
// Environment (from test_screens.py): SCREENS_ORIGIN (https://prod.localhost:18443), SCREENS_QUEUE,
// SCREENS_LABEL (its label), SCREENS_KEY_DESK / _KIOSK / _SCREEN, SCREENS_OUT (screenshots),
// SCREENS_REDIS (the platform's Redis container, paused for a moment to make an answer uncertain),
// NODE_EXTRA_CA_CERTS (the stack's certificate, for the test's own API calls). Prints "figure: ..."
// lines.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import { readFileSync, mkdirSync } from "node:fs";
import net from "node:net";
import zlib from "node:zlib";
import path from "node:path";

const require = createRequire(import.meta.url);
const { chromium } = require("playwright-core");
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../..");
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const qrcode = (await import(path.join(root, "node_modules/qrcode-generator/dist/qrcode.mjs"))).default;

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: tests/e2e/test_screens.py sets it`);
  return value;
};
const origin = env("SCREENS_ORIGIN");
const queue = env("SCREENS_QUEUE");
const label = env("SCREENS_LABEL");
const keys = { desk: env("SCREENS_KEY_DESK"), kiosk: env("SCREENS_KEY_KIOSK"), screen: env("SCREENS_KEY_SCREEN") };
const out = env("SCREENS_OUT");
const redisContainer = env("SCREENS_REDIS");
mkdirSync(out, { recursive: true });
const base = `${origin}/${queue}`;
// The test's own calls go to the proxy's address: a host name other than dev.* and qualif.* is
// production, and the certificate names 127.0.0.1.
const apiBase = `https://127.0.0.1:${new URL(origin).port}/${queue}`;
const figure = (line) => console.log(`figure: ${line}`);

async function api(method, route, key = keys.desk) {
  const response = await fetch(`${apiBase}/${route}`, { method, headers: { Authorization: `Bearer ${key}` } });
  return { status: response.status, body: await response.json().catch(() => null) };
}

// A TCP relay in front of the proxy, for one browser context: cut() drops its connections and
// refuses new ones until resume(), as a network that goes away does.
function relay() {
  const target = Number(new URL(origin).port);
  const sockets = new Set();
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) return client.destroy();
    const upstream = net.connect(target, "127.0.0.1");
    sockets.add(client).add(upstream);
    const drop = () => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream); };
    client.on("error", drop).on("close", drop).pipe(upstream);
    upstream.on("error", drop).on("close", drop).pipe(client);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({
    port: server.address().port,
    cut() { refusing = true; for (const s of sockets) s.destroy(); sockets.clear(); },
    resume() { refusing = false; },
    close() { this.cut(); server.close(); },
  })));
}

let browser;
const contexts = [];
before(async () => {
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    // As root in a container: no sandbox; no background traffic to the outside world.
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--no-first-run"],
  });
  // Every ticket called before this test is out of the way: the numbers below are this test's.
  for (;;) {
    const call = await api("POST", "call_ticket");
    assert.equal(call.status, 200, JSON.stringify(call.body));
    if (call.body.ticket === null) break;
  }
});
after(async () => {
  cut?.close();
  for (const context of contexts) await context.close().catch(() => {});
  await browser?.close();
});

// A page in a fresh browser context of its own size; `via` a relay's port instead of the proxy's.
async function open(route, viewport, { key, via, locale = "fr-FR" } = {}) {
  const context = await browser.newContext({ viewport, locale, ignoreHTTPSErrors: true });
  contexts.push(context);
  // What the page says aloud and makes vibrate, as the browser is asked to.
  await context.addInitScript(() => {
    window.__spoken = [];
    window.__vibrated = 0;
    if ("speechSynthesis" in window) {
      const speak = speechSynthesis.speak.bind(speechSynthesis);
      speechSynthesis.speak = (utterance) => { window.__spoken.push(utterance.text); speak(utterance); };
    }
    navigator.vibrate = () => { window.__vibrated += 1; return true; };
  });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  // A failed request is the browser's console error too: those are the tests' own doing (a
  // session not open yet, Redis paused), the page's script errors are not.
  page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(m.text()); });
  page.errors = errors;
  const where = via ? `https://prod.localhost:${via}/${queue}` : base;
  await page.goto(`${where}/${route}`);
  if (key) {
    await page.fill("#key", key);
    await page.click("#setup button[type=submit]");
  }
  return page;
}

const text = (page, selector) => page.locator(selector).innerText();
// A number as the French pages write it ("1 234").
const fr = (n) => new Intl.NumberFormat("fr-FR").format(n);
const until = async (what, predicate, timeout = 10000) => {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await predicate()) return Date.now();
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
};

let display, desk, kiosk, phone, cut;
const size = { kiosk: { width: 1080, height: 1920 }, desk: { width: 1366, height: 768 },
               display: { width: 1920, height: 1080 }, phone: { width: 390, height: 844 } };

test("a key of the wrong scope is refused with a message that says which right it lacks", async () => {
  const page = await open("kiosk", size.kiosk, { key: keys.screen });
  const message = page.locator("#setup .message");
  await message.waitFor();
  assert.match(await message.innerText(), /ne convient pas à cet écran\s*:.*«\s*take\s*».*la borne/s);
  assert.equal(await page.locator("#idle").isHidden(), true, "the kiosk stays closed");
  const who = await page.evaluate(() => fetch("session").then((r) => r.status));
  assert.equal(who, 401, "the session opened with the wrong key is closed again");
});

test("each staff screen opens with its own key and forgets it", async () => {
  cut = await relay();
  display = await open("display", size.display, { key: keys.screen, via: cut.port });
  await display.locator("#calls").waitFor();
  await display.click("#sound");
  desk = await open("desk", size.desk, { key: keys.desk });
  await desk.locator("#work").waitFor();
  await desk.fill("#counter", "3");
  await desk.click("#counter-form button");
  kiosk = await open("kiosk", size.kiosk, { key: keys.kiosk });
  await kiosk.locator("#take").waitFor();
  for (const page of [display, desk, kiosk]) {
    assert.equal(await text(page, "#queue"), `File ${label}`, "the queue's label from deploy/platforms.conf");
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.cookie);
    for (const key of Object.values(keys)) assert.ok(!stored.includes(key), "no page keeps a key (the cookie is HttpOnly)");
  }
});

let taken;
test("a kiosk tap takes one ticket, shows it with its code, and the display lists it within a second", async () => {
  // Two visitors before: the phone will have two people ahead.
  for (let i = 0; i < 2; i++) assert.equal((await api("POST", "get_ticket", keys.kiosk)).status, 200);
  const answer = kiosk.waitForResponse((r) => r.url().endsWith("/get_ticket"));
  await kiosk.dblclick("#take");  // a double tap: one ticket
  taken = await (await answer).json();
  const tapped = Date.now();
  await kiosk.locator("#result").waitFor();
  assert.equal(await text(kiosk, "#number"), fr(taken.ticket));
  assert.equal(await text(kiosk, "#ahead"), "2 personnes avant vous");
  const listed = await until("the ticket on the display", async () =>
    (await display.locator("#next li").allInnerTexts()).includes(fr(taken.ticket)));
  figure(`screens: a kiosk tap's ticket ${taken.ticket} listed on the display ${listed - tapped} ms later`);
  assert.ok(listed - tapped <= 1000, `${listed - tapped} ms`);
  const list = await api("GET", "list_tickets");
  assert.equal(list.body.tickets.at(-1), taken.ticket, "the double tap took one ticket");
  assert.equal(list.body.tickets.length, 3);
  // The code is the ticket's whole address.
  const code = qrcode(0, "M");
  code.addData(new URL(taken.ticket_url, origin).href);
  code.make();
  const expected = code.createSvgTag({ cellSize: 4, margin: 2, scalable: true }).match(/ d="([^"]+)"/)[1];
  const shown = await kiosk.locator("#qr svg path").getAttribute("d");
  assert.equal(shown, expected, "the QR code encodes the ticket's link");
  await kiosk.screenshot({ path: `${out}/kiosk.png` });
});

test("the phone's page shows the ticket, counts down as the desk calls, and says when it is its turn", async () => {
  phone = await open(taken.ticket_url.replace(/^\//, "").replace(`${queue}/`, ""), size.phone);
  await phone.locator("#ticket").waitFor();
  assert.equal(await text(phone, "#number"), fr(taken.ticket));
  assert.equal(await text(phone, "#ahead"), "2 personnes avant vous");

  // The desk calls: the display shows and says it with the counter; the phone has one fewer ahead.
  const first = (await api("GET", "list_tickets")).body.tickets[0];
  await desk.click("#next");
  await until("the call on the display", async () => (await display.locator(".now .ticket").innerText()) === fr(first));
  assert.match(await text(display, ".now .counter"), /Guichet 3/);
  await until("the phone's count", async () => (await text(phone, "#ahead")) === "1 personne avant vous");
  await until("the announcement", async () => (await display.evaluate(() => window.__spoken)).length === 1);
  const spoken = await display.evaluate(() => window.__spoken[0]);
  assert.match(spoken, /^Ticket [a-zéè -]+, guichet trois$/, spoken);
  figure(`screens: the display said "${spoken}"`);

  // A double click calls one customer.
  const waitingBefore = (await api("GET", "list_tickets")).body.waiting;
  await desk.dblclick("#next");
  await until("the second call", async () => (await text(phone, "#ahead")) === "Vous êtes le prochain");
  await desk.waitForTimeout(500);
  assert.equal((await api("GET", "list_tickets")).body.waiting, waitingBefore - 1, "a double click called one");

  // The keyboard: N calls the phone's ticket.
  await desk.locator("body").press("n");
  await until("the phone's turn", async () => !(await phone.locator("#turn").isHidden()));
  assert.equal(await text(phone, "#turn"), "C\u2019est votre tour\u00a0: guichet 3");
  assert.equal(await phone.evaluate(() => window.__vibrated), 1, "the phone vibrates once");
  await until("the desk's ticket", async () => (await text(desk, "#serving")) === fr(taken.ticket));
  // R calls it again: the display says it again.
  await desk.locator("body").press("r");
  await until("the recall said", async () => (await display.evaluate(() => window.__spoken)).length === 4);
  const said = await display.evaluate(() => window.__spoken);
  assert.equal(said[3], said[2], "the recall is announced again");
  await phone.screenshot({ path: `${out}/phone.png` });
  await desk.screenshot({ path: `${out}/desk.png` });
});

test("when its stream drops the display says so, then shows the calls made meanwhile and says only the last", async () => {
  for (let i = 0; i < 2; i++) assert.equal((await api("POST", "get_ticket", keys.kiosk)).status, 200);
  const spokenBefore = (await display.evaluate(() => window.__spoken)).length;
  cut.cut();
  await display.locator("#lost").waitFor({ state: "visible" });
  assert.match(await text(display, "#lost"), /Connexion perdue/);
  const missed = [];
  for (let i = 0; i < 2; i++) missed.push((await api("POST", "call_ticket?counter=7")).body.ticket);
  cut.resume();
  await display.locator("#lost").waitFor({ state: "hidden", timeout: 20000 });
  await until("the missed calls", async () => (await display.locator(".now .ticket").innerText()) === fr(missed[1]));
  const recent = await display.locator("#recent li").first().innerText();
  assert.equal(recent.replace(/\s+/g, " "), `${fr(missed[0])} Guichet 7`.replace(/\s+/g, " "));
  await display.waitForTimeout(2500);
  const said = (await display.evaluate(() => window.__spoken)).slice(spokenBefore);
  assert.equal(said.length, 1, `only the last missed call is said: ${JSON.stringify(said)}`);
  assert.match(said[0], /guichet sept$/);
  await display.screenshot({ path: `${out}/display.png` });
});

test("an uncertain answer (504) is asked again with the same key until the desk knows, and one ticket is called", async () => {
  const ticket = (await api("POST", "get_ticket", keys.kiosk)).body.ticket;
  const sent = [];
  desk.on("request", (r) => { if (r.url().includes("call_ticket")) sent.push(r.headers()["idempotency-key"]); });
  const statuses = [];
  desk.on("response", (r) => { if (r.url().includes("call_ticket")) statuses.push(r.status()); });
  execFileSync("docker", ["pause", redisContainer]);
  try {
    await desk.click("#next");
    await until("an uncertain answer", async () => statuses.some((s) => s === 504 || s === 503), 15000);
    await until("the desk saying it checks", async () => /vérification/.test(await text(desk, "#outcome")), 5000);
  } finally {
    execFileSync("docker", ["unpause", redisContainer]);
  }
  await until("the outcome", async () => (await text(desk, "#outcome")).startsWith(`Ticket ${fr(ticket)} appelé`), 40000);
  figure(`screens: the desk asked ${sent.length} times with one key (${[...new Set(sent)].length} distinct), answers ${statuses.join(" ")}`);
  assert.equal(new Set(sent).size, 1, "every attempt carried the same Idempotency-Key");
  assert.ok(statuses.includes(504), `an uncertain answer came: ${statuses}`);
  const last = await api("GET", "last_called");
  assert.equal(last.body.ticket, ticket);
  assert.equal((await api("GET", "list_tickets")).body.tickets.includes(ticket), false);
});

test("every page passes axe-core with no serious or critical violation, also at 200 % text", async () => {
  const pages = { kiosk, desk, display, phone };
  for (const [name, page] of Object.entries(pages)) {
    for (const zoom of ["100%", "200%"]) {
      await page.evaluate((z) => { document.documentElement.style.fontSize = z; }, zoom);
      // axe runs as a script the page's policy would refuse: added through the debugging protocol.
      const session = await page.context().newCDPSession(page);
      await session.send("Runtime.evaluate", { expression: axeSource });
      const { result } = await session.send("Runtime.evaluate", {
        expression: "axe.run(document, { resultTypes: ['violations'] }).then((r) => JSON.stringify(r.violations))",
        awaitPromise: true,
      });
      const violations = JSON.parse(result.value).filter((v) => v.impact === "serious" || v.impact === "critical");
      assert.deepEqual(violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target).join(" ")}`), [], `${name} at ${zoom}`);
      if (zoom === "200%") {
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 1, `${name} at 200 % scrolls sideways by ${overflow} px`);
        await page.screenshot({ path: `${out}/${name}-200.png` });
      }
    }
    await page.evaluate(() => { document.documentElement.style.fontSize = ""; });
    figure(`screens: ${name}: no serious or critical axe-core violation at 100 % and 200 % text`);
  }
  // The smallest phones: 360 px wide, nothing to scroll sideways.
  await phone.setViewportSize({ width: 360, height: 740 });
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the phone's page at 360 px scrolls sideways by ${overflow} px`);
  await phone.setViewportSize(size.phone);
});

test("each page weighs at most 100 KB compressed, with everything it loads", async () => {
  for (const [name, route] of [["kiosk", "kiosk"], ["desk", "desk"], ["display", "display"], ["phone", taken.ticket_url.slice(1).replace(`${queue}/`, "")]]) {
    const seen = new Map();
    const load = async (url) => {
      if (seen.has(url)) return;
      const response = await fetch(url, { headers: { Accept: url.endsWith(route) ? "text/html" : "*/*" } });
      assert.equal(response.status, 200, url);
      const body = Buffer.from(await response.arrayBuffer());
      seen.set(url, zlib.gzipSync(body, { level: 9 }).length);
      const source = body.toString();
      const links = [...source.matchAll(/(?:src|href)="([^"]+\.(?:js|css|mjs))"/g), ...source.matchAll(/from "(\.[^"]+)"/g)];
      for (const [, link] of links) await load(new URL(link, url).href);
    };
    await load(`${apiBase}/${route}`);
    const total = [...seen.values()].reduce((a, b) => a + b, 0);
    figure(`screens: ${name} page ${(total / 1024).toFixed(1)} KB compressed, ${seen.size} files`);
    assert.ok(total <= 100 * 1024, `${name}: ${total} bytes`);
  }
});

test("the pages ran without a script error, in English too when the browser prefers it", async () => {
  for (const [name, page] of Object.entries({ kiosk, desk, display, phone })) {
    assert.deepEqual(page.errors, [], `${name}: ${page.errors.join("; ")}`);
  }
  const english = await open(taken.ticket_url.slice(1).replace(`${queue}/`, ""), size.phone, { locale: "en-GB" });
  await english.locator("#ticket").waitFor();
  assert.equal(await english.evaluate(() => document.documentElement.lang), "en");
  assert.equal(await text(english, "#turn"), "It is your turn: counter 3");
});

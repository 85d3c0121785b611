// What the screens share: their language, the service's API (relative URLs, so that a page
// works under any prefix the proxy gives it), the device's session, and live events.
//
//   import { t, api, openSession, LiveStream } from "./common.js";
//   await openSession(["take", "read"], "kiosk");      // asks for the device's key if needed
//   const r = await api("POST", "get_ticket", { idempotencyKey: newKey() });
import fr from "./i18n/fr.js";
import en from "./i18n/en.js";

// French unless the browser prefers English (navigator.languages mirrors Accept-Language).
const catalogues = { fr, en };
const preferred = (navigator.languages || [navigator.language || "fr"])
  .map((tag) => tag.toLowerCase().split("-")[0])
  .find((lang) => lang in catalogues);
export const lang = preferred || "fr";
const texts = catalogues[lang];
document.documentElement.lang = lang;

// The text of `key` with its {names} replaced.
export function t(key, values = {}) {
  const text = texts[key] ?? fr[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in values ? String(values[name]) : `{${name}}`));
}

// Every element with data-t="key" gets its text; data-t-attr="attr:key" an attribute.
export function translate(root = document) {
  for (const el of root.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  for (const el of root.querySelectorAll("[data-t-attr]")) {
    const [attr, key] = el.dataset.tAttr.split(":");
    el.setAttribute(attr, t(key));
  }
  const title = document.querySelector("title[data-t]");
  if (title) document.title = t(title.dataset.t);
}

const numbers = new Intl.NumberFormat(lang === "fr" ? "fr-FR" : "en-GB");
export const number = (n) => numbers.format(n);
export const time = (iso) =>
  new Intl.DateTimeFormat(lang === "fr" ? "fr-FR" : "en-GB", { hour: "2-digit", minute: "2-digit" }).format(new Date(iso));
export const dateTime = (date) =>
  new Intl.DateTimeFormat(lang === "fr" ? "fr-FR" : "en-GB", { dateStyle: "long", timeStyle: "short" }).format(date);

export function aheadText(ahead) {
  return ahead === 0 ? t("ahead.0") : ahead === 1 ? t("ahead.1") : t("ahead.n", { n: number(ahead) });
}

export function waitText(seconds) {
  if (seconds === null || seconds === undefined) return t("wait.none");
  if (seconds < 60) return t("wait.soon");
  return t("wait.minutes", { minutes: number(Math.round(seconds / 60)) });
}

// A key that makes a retried request the same request (Idempotency-Key).
export const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`);

// One API call: {status, body} (body parsed when JSON); status 0 when the service did not answer.
export async function api(method, path, { idempotencyKey, key, accept = "application/json" } = {}) {
  const headers = { Accept: accept };
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  if (key) headers.Authorization = `Bearer ${key}`;
  try {
    const response = await fetch(path, { method, headers, credentials: "same-origin", cache: "no-store" });
    const type = response.headers.get("Content-Type") || "";
    const body = type.startsWith("application/json") ? await response.json() : null;
    return { status: response.status, body };
  } catch {
    return { status: 0, body: null };
  }
}

export const reason = (r) => (r.status === 0 ? t("error.network") : t("error.status", { status: r.status }));

// The device's session: a staff screen asks once for its access key, exchanges it for the
// session cookie (POST session) and forgets it. Resolves with {queue, label, key, scopes} once the
// session has every scope in `needed`; until then shows the setup form (element #setup).
export async function openSession(needed, screen) {
  const setup = document.getElementById("setup");
  const form = setup.querySelector("form");
  const message = setup.querySelector(".message");
  const input = form.querySelector("input");
  const lacking = (who) => needed.filter((scope) => !who.scopes.includes(scope));
  for (;;) {
    const who = await api("GET", "session");
    if (who.status === 200 && lacking(who.body).length === 0) {
      setup.hidden = true;
      return who.body;
    }
    setup.hidden = false;
    if (who.status === 200) {
      show(message, t("setup.scope", { scopes: lacking(who.body).join(", "), screen: t(`screen.${screen}`) }), true);
      await api("DELETE", "session");
    } else if (who.status !== 401) {
      show(message, t("setup.unreachable"), true);
    }
    input.focus();
    const key = await new Promise((resolve) => {
      form.onsubmit = (event) => {
        event.preventDefault();
        resolve(input.value.trim());
      };
    });
    const opened = await api("POST", "session", { key });
    input.value = "";
    if (opened.status === 401) show(message, t("setup.invalid"), true);
    else if (opened.status !== 204) show(message, t("setup.unreachable"), true);
    else message.hidden = true;
  }
}

// Shows a message (an element with role status or alert); `error` makes it the error kind.
export function show(element, text, error = false) {
  element.textContent = text;
  element.classList.toggle("error", error);
  element.hidden = false;
}

// A Server-Sent Events stream that comes back by itself. EventSource reconnects with
// Last-Event-ID after the stream ends; when it gives up (an error answer), a new one starts
// after a pause, with the last id in the query. onState("open" | "lost").
export class LiveStream {
  constructor(url, types, { onEvent, onState }) {
    Object.assign(this, { url, types, onEvent, onState, lastId: "", delay: 1000 });
  }

  start() {
    const separator = this.url.includes("?") ? "&" : "?";
    const url = this.lastId ? `${this.url}${separator}last_event_id=${encodeURIComponent(this.lastId)}` : this.url;
    const source = new EventSource(url, { withCredentials: true });
    this.source = source;
    source.onopen = () => {
      this.delay = 1000;
      this.onState("open");
    };
    source.onerror = () => {
      this.onState("lost");
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(() => this.start(), this.delay);
        this.delay = Math.min(this.delay * 2, 15000);
      }
    };
    for (const type of this.types) {
      source.addEventListener(type, (event) => {
        if (event.lastEventId) this.lastId = event.lastEventId;
        this.onEvent(type, JSON.parse(event.data));
      });
    }
  }
}

// Keeps a clock element (data-clock) on the minute.
export function clock(element) {
  const tick = () => {
    element.textContent = new Intl.DateTimeFormat(lang === "fr" ? "fr-FR" : "en-GB", { hour: "2-digit", minute: "2-digit" }).format(new Date());
  };
  tick();
  setInterval(tick, 10000);
}

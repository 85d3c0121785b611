// The waiting-room display: the call being made in large type with its counter, the five before
// it, the number waiting; each call chimes and is said, one after the other. When the stream
// drops it says so, comes back by itself, and shows the calls made meanwhile (only the last of
// them is said again).
import { t, translate, openSession, api, number, LiveStream, clock } from "./common.js";
import { Announcer, spoken } from "./speech.js";

const $ = (id) => document.getElementById(id);
const shown = 5;
const announcer = new Announcer();
let calls = [];       // newest first: {ticket, counter, at}
// The waiting tickets are consecutive numbers: the oldest and the count say which come next.
let oldest = null;
let waiting = 0;
let catchingUp = false;  // the events a reconnection brings: shown, not all said
let missed = null;

function render(highlight) {
  const [current, ...rest] = calls;
  const now = $("current");
  now.replaceChildren();
  if (!current) {
    const empty = document.createElement("p");
    empty.className = "empty";
    empty.textContent = t("display.none");
    now.append(empty);
  } else {
    const call = document.createElement("div");
    call.className = "call";
    const word = document.createElement("span");
    word.className = "word";
    word.textContent = t("display.ticket");
    const ticket = document.createElement("span");
    ticket.className = "ticket";
    ticket.textContent = number(current.ticket);
    call.append(word, ticket);
    if (current.counter) {
      const counter = document.createElement("span");
      counter.className = "counter";
      counter.textContent = `→ ${t("display.counter", { counter: current.counter })}`;
      call.append(counter);
    }
    now.append(call);
  }
  $("recent").replaceChildren(...rest.slice(0, shown).map((c) => {
    const item = document.createElement("li");
    const ticket = document.createElement("span");
    ticket.textContent = number(c.ticket);
    const counter = document.createElement("span");
    counter.textContent = c.counter ? t("display.counter", { counter: c.counter }) : "";
    item.append(ticket, counter);
    return item;
  }));
  if (highlight) {
    const panel = $("now");
    panel.classList.remove("flash");
    void panel.offsetWidth;  // restarts the animation
    panel.classList.add("flash");
  }
}

function renderNext() {
  $("waiting").textContent = number(waiting);
  const next = [];
  for (let i = 0; oldest !== null && i < Math.min(waiting, shown); i++) next.push(oldest + i);
  const items = next.map((n) => {
    const item = document.createElement("li");
    item.textContent = number(n);
    return item;
  });
  if (!items.length) {
    const none = document.createElement("li");
    none.className = "none";
    none.textContent = t("display.next.none");
    items.push(none);
  }
  $("next").replaceChildren(...items);
}

function sentence(call) {
  return call.counter
    ? t("display.say", { ticket: spoken(call.ticket), counter: spoken(call.counter) })
    : t("display.say.plain", { ticket: spoken(call.ticket) });
}

function called(data, recall) {
  const call = { ticket: data.ticket, counter: data.counter, at: data.at };
  // A recall brings its ticket back to the top rather than listing it twice.
  calls = [call, ...calls.filter((c) => !(recall && c.ticket === call.ticket))].slice(0, shown + 1);
  render(true);
  if (catchingUp) missed = call;
  else announcer.say(sentence(call));
}

translate();
clock($("clock"));
const session = await openSession(["read"], "display");
$("queue").textContent = t("queue", { queue: session.label });
$("calls").hidden = false;
$("side").hidden = false;

$("sound").addEventListener("click", () => {
  announcer.enable();
  $("sound").textContent = t("display.sound.on");
  $("sound").disabled = true;
});

let lostSince = null;
new LiveStream("events", ["snapshot", "taken", "called", "recalled"], {
  onState: (state) => {
    $("lost").hidden = state === "open";
    if (state === "open") {
      lostSince = null;
      // What arrives in the first moment after a reconnection is what was missed.
      if (calls.length) {
        catchingUp = true;
        setTimeout(() => {
          catchingUp = false;
          if (missed) announcer.say(sentence(missed));
          missed = null;
        }, 1500);
      }
    } else if (lostSince === null) {
      lostSince = Date.now();
    } else if (Date.now() - lostSince > 30000) {
      // Lost for long: perhaps the session ended (12 h); the page asks again if so.
      api("GET", "session").then((who) => who.status === 401 && location.reload());
      lostSince = Date.now();
    }
  },
  onEvent: (type, data) => {
    waiting = data.waiting;
    if (type === "snapshot") {
      // A reset (events missed beyond what the queue keeps): the recent calls as they are now.
      calls = data.calls.map((c) => ({ ticket: c.ticket, counter: c.counter, at: c.at }));
      oldest = data.tickets.length ? data.tickets[0] : null;
      render(false);
    } else if (type === "taken") {
      oldest = data.ticket - waiting + 1;
    } else if (type === "called") {
      oldest = data.ticket + 1;
      called(data, false);
    } else if (type === "recalled") {
      called(data, true);
    }
    renderNext();
  },
}).start();

// The desk: a counter calls the next ticket and calls it again, from the keyboard first. Every
// action carries an Idempotency-Key and its button waits for the answer: a double click or a
// network retry never calls two people; an uncertain answer (504) is asked again with the same
// key until it is known.
import { t, translate, api, newKey, openSession, show, number, reason, LiveStream, clock } from "./common.js";

const $ = (id) => document.getElementById(id);
const counterPattern = /^[A-Za-z0-9_.-]{1,32}$/;
const stored = "waitline.desk.counter";
let counter = localStorage.getItem(stored) || "";
let busy = false;

function setCounter(value) {
  counter = value;
  $("counter").value = value;
  $("counter-title").textContent = value ? `— ${value}` : "";
}

function serving(ticket) {
  $("serving").textContent = ticket ? number(ticket) : t("desk.serving.none");
}

// POST path with one key, sent again while the answer says nothing about the outcome: no answer
// or 502/504 (it may have been done: the same key tells), 503 (not done: safe to send again).
// After about half a minute, the last answer stands.
async function act(path) {
  const key = newKey();
  for (let attempt = 0; ; attempt++) {
    const answer = await api("POST", path, { idempotencyKey: key });
    if (![0, 502, 503, 504].includes(answer.status) || attempt === 30) return answer;
    show($("outcome"), t("desk.checking"));
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

async function run(kind) {
  if (busy) return;
  if (!counterPattern.test(counter)) {
    show($("outcome"), t("desk.needCounter"), true);
    $("counter").focus();
    return;
  }
  busy = true;
  for (const id of ["next", "recall"]) $(id).disabled = true;
  const path = `${kind === "next" ? "call_ticket" : "recall"}?counter=${encodeURIComponent(counter)}`;
  const answer = await act(path);
  busy = false;
  for (const id of ["next", "recall"]) $(id).disabled = false;
  if (answer.status === 401) return location.reload();
  if (answer.status === 404 && kind === "recall") return show($("outcome"), t("desk.nothing"), true);
  if (answer.status !== 200) return show($("outcome"), t("desk.failed", { reason: reason(answer) }), true);
  const { ticket, waiting } = answer.body;
  $("waiting").textContent = number(waiting);
  if (ticket === null) return show($("outcome"), t("desk.empty"));
  serving(ticket);
  show($("outcome"), t(kind === "next" ? "desk.called" : "desk.recalled", { ticket: number(ticket), counter }));
}

translate();
clock($("clock"));
const session = await openSession(["call", "read"], "desk");
$("queue").textContent = t("queue", { queue: session.label });
$("shortcuts").textContent = t("desk.shortcuts", { next: t("desk.key.next"), recall: "R" });
setCounter(counter);
serving(null);
$("work").hidden = false;

$("counter-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const value = $("counter").value.trim();
  if (!counterPattern.test(value)) return show($("outcome"), t("desk.counter.invalid"), true);
  localStorage.setItem(stored, value);
  setCounter(value);
  show($("outcome"), t("desk.counter.saved", { counter: value }));
  $("next").focus();
});
$("next").addEventListener("click", () => run("next"));
$("recall").addEventListener("click", () => run("recall"));
// Enter or N calls the next one, R calls again; not while typing the counter's name.
document.addEventListener("keydown", (event) => {
  if (event.target instanceof HTMLInputElement || event.ctrlKey || event.metaKey || event.altKey) return;
  const key = event.key.toLowerCase();
  if (key === "enter" && event.target instanceof HTMLButtonElement) return;  // the button's own click
  if (key === "enter" || key === "n") {
    event.preventDefault();
    run("next");
  } else if (key === "r") {
    event.preventDefault();
    run("recall");
  }
});
if (counter) $("next").focus();
else $("counter").focus();

// The number waiting and this counter's calls, live (also those made from another device).
new LiveStream("events", ["snapshot", "taken", "called", "recalled"], {
  onState: (state) => ($("lost").hidden = state === "open"),
  onEvent: (type, data) => {
    $("waiting").textContent = number(data.waiting);
    if (type === "snapshot") {
      const mine = data.calls.find((call) => call.counter === counter);
      serving(mine ? mine.ticket : null);
    } else if (type !== "taken" && data.counter === counter) {
      serving(data.ticket);
    }
  },
}).start();

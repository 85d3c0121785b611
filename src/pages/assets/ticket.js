// A visitor's ticket on their phone: the number, the people before them and the wait, live; when
// it is called, the counter, in large type, with a vibration where the phone allows it. The link
// is all it needs: no key, no login, nothing kept about the person.
import { t, translate, api, number, aheadText, waitText, time, LiveStream } from "./common.js";

const $ = (id) => document.getElementById(id);
// This page is /<prefix>/tickets/<n>?token=...: its data is at the same path, as JSON.
const ticket = location.pathname.split("/").pop();
const query = location.search;
let vibrated = false;

function render(status) {
  $("queue").textContent = t("queue", { queue: status.label });
  $("number").textContent = number(status.ticket);
  const called = status.state === "called";
  $("turn").hidden = !called;
  $("facts").hidden = status.state !== "waiting";
  $("state").textContent = "";
  if (status.state === "waiting") {
    $("ahead").textContent = aheadText(status.ahead);
    $("wait").textContent = waitText(status.estimated_wait_seconds);
  } else if (called) {
    $("turn").textContent = status.counter ? t("ticket.turn", { counter: status.counter }) : t("ticket.turn.plain");
    $("state").textContent = t("ticket.called.at", { time: time(status.called_at) });
    if (!vibrated && navigator.vibrate) navigator.vibrate([300, 150, 300, 150, 300]);
    vibrated = true;
  } else {
    $("state").textContent = t("ticket.gone");
  }
  $("ticket").hidden = false;
}

translate();
const first = await api("GET", `${ticket}${query}`);
if (first.status !== 200) {
  $("unknown").hidden = false;
} else {
  render(first.body);
  new LiveStream(`${ticket}/events${query}`, ["status"], {
    onState: (state) => ($("lost").hidden = state === "open"),
    onEvent: (_, status) => render(status),
  }).start();
}

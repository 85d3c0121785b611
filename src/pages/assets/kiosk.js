// The kiosk: one large button takes a ticket; the visitor sees the number, the people before
// them, the wait, and a code that opens the ticket on their phone; it prints on 80 mm paper.
import { t, translate, api, newKey, openSession, show, number, aheadText, waitText, dateTime } from "./common.js";
import qrcode from "./qrcode.mjs";

const $ = (id) => document.getElementById(id);
// How long a ticket stays on screen before the kiosk is ready for the next visitor.
const showFor = 45000;
let back;

async function take() {
  const button = $("take");
  button.disabled = true;
  button.textContent = t("kiosk.taking");
  $("problem").hidden = true;
  // One key per tap: a retry after a lost answer gets the same ticket, never a second one.
  const key = newKey();
  let answer;
  for (let attempt = 0; attempt < 4; attempt++) {
    answer = await api("POST", "get_ticket", { idempotencyKey: key });
    if (![0, 502, 503, 504].includes(answer.status)) break;
    await new Promise((resolve) => setTimeout(resolve, 800));
  }
  button.disabled = false;
  button.textContent = t("kiosk.take");
  if (answer.status === 401) return location.reload();
  if (answer.status === 409) return show($("problem"), t("kiosk.full"), true);
  if (answer.status !== 200) return show($("problem"), t("kiosk.unavailable"), true);
  present(answer.body);
}

function present(ticket) {
  $("number").textContent = number(ticket.ticket);
  $("ahead").textContent = aheadText(ticket.ahead);
  $("wait").textContent = waitText(ticket.estimated_wait_seconds);
  $("printed-queue").textContent = t("queue", { queue: session.label });
  $("printed-date").textContent = t("kiosk.printed", { date: dateTime(new Date()) });
  // The phone needs the whole address: this page's origin and the ticket's link.
  const code = qrcode(0, "M");
  code.addData(new URL(ticket.ticket_url, location.origin).href);
  code.make();
  $("qr").innerHTML = code.createSvgTag({ cellSize: 4, margin: 2, scalable: true, title: t("kiosk.qr") });
  $("idle").hidden = true;
  $("result").hidden = false;
  $("done").focus();
  clearTimeout(back);
  back = setTimeout(reset, showFor);
}

function reset() {
  clearTimeout(back);
  $("result").hidden = true;
  $("idle").hidden = false;
  $("take").focus();
}

translate();
const session = await openSession(["take", "read"], "kiosk");
$("queue").textContent = t("queue", { queue: session.label });
$("take").addEventListener("click", take);
$("done").addEventListener("click", reset);
$("print").addEventListener("click", () => window.print());
$("idle").hidden = false;
$("take").focus();

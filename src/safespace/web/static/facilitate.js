// The facilitators' queue, live: a new alert or flag is announced at once, with the
// message and signals, and the list can be refreshed. No body is ever set as HTML.

const live = document.getElementById("queue-live");
let retry = 1000;

function announce(flag, urgent) {
  const card = document.createElement("section");
  card.className = urgent ? "alert-card" : "alert-card flag-card";
  card.setAttribute("role", urgent ? "alert" : "status");
  const title = document.createElement("h2");
  const who = flag.subject && flag.subject.alias ? flag.subject.alias : "A member";
  title.textContent = urgent ? `Urgent: ${who} may be in danger` : `New in your queue: ${who}`;
  card.append(title);
  if (flag.message && flag.message.body) {
    const quote = document.createElement("blockquote");
    quote.textContent = flag.message.body;
    card.append(quote);
  }
  const refresh = document.createElement("a");
  refresh.href = "/facilitate";
  refresh.textContent = "Show it in the queue";
  card.append(refresh);
  live.prepend(card);
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}/api/v1/ws`);
  ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "hello" })));
  ws.addEventListener("message", (event) => {
    let frame;
    try { frame = JSON.parse(event.data); } catch { return; }
    if (frame.type === "ready") retry = 1000;
    if ((frame.type === "alert" || frame.type === "flag") && frame.flag) announce(frame.flag, frame.type === "alert");
  });
  ws.addEventListener("close", (event) => {
    if (event.code === 4001 || event.code === 4401) return;
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 8000);
  });
}

connect();

// A gentle reminder to take a break, after a long stretch on duty: this tab has had the
// queue open for `data-duty-minutes` (from SAFESPACE_DUTY_REMINDER_MINUTES). The start is
// kept in sessionStorage, so reloading the page doesn't reset it; "Not now" starts a new
// stretch. A status, never an alert: it must not interrupt anyone mid-sentence.
const reminder = document.getElementById("duty-reminder");
const reminderCard = document.getElementById("duty-reminder-card");
const DUTY_KEY = "safespace.duty-start";
let dutyTimer = null;

function storedStart() {
  try {
    return Number(sessionStorage.getItem(DUTY_KEY)) || 0;
  } catch {
    return 0; // storage refused (a private window): the reminder counts from this load
  }
}

function storeStart(value) {
  try {
    sessionStorage.setItem(DUTY_KEY, String(value));
  } catch {
    /* the reminder still works for this page */
  }
}

function remindAfter(start) {
  const minutes = Number(reminder.dataset.dutyMinutes) || 90;
  clearTimeout(dutyTimer);
  dutyTimer = setTimeout(showReminder, Math.max(0, start + minutes * 60000 - Date.now()));
}

function showReminder() {
  if (reminder.firstElementChild) return;
  reminder.append(reminderCard.content.cloneNode(true));
  reminder.querySelector("[data-dismiss]").addEventListener("click", () => {
    reminder.replaceChildren();
    const now = Date.now();
    storeStart(now);
    remindAfter(now);
    document.getElementById("main").focus(); // the button is gone: keep focus in the page
  });
}

if (reminder && reminderCard) {
  let start = storedStart();
  if (!start || start > Date.now()) {
    start = Date.now();
    storeStart(start);
  }
  remindAfter(start);
}

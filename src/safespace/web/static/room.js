// The live room: one websocket, optimistic "sending" messages, resume after any drop.
// Nothing here trusts message text: bodies are only ever set with textContent.

const root = document.querySelector(".room[data-room-id]");
const roomId = Number(root.dataset.roomId);
const list = document.getElementById("messages");
const log = document.getElementById("log");
const statusEl = document.getElementById("conn-status");
const announcer = document.getElementById("announcer");
const form = document.getElementById("composer");
const textarea = document.getElementById("body");
const errorBox = document.getElementById("composer-error");
const earlierBtn = document.getElementById("load-earlier");
const rulesBanner = document.getElementById("rules-banner");
const storeKey = `safespace:pending:${roomId}`;
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const isFacilitator = root.dataset.facilitator === "yes";
const noFacilitator = document.getElementById("no-facilitator");
const checkIn = document.getElementById("check-in");
const alertsBox = document.getElementById("alerts");

let lastSeq = Number(root.dataset.lastSeq) || 0;
let firstSeq = Number(root.dataset.firstSeq) || 0;
let ws = null;
let ready = false;
let retryDelay = 500;
let pingTimer = null;
let stopped = false;
// client_id -> {body, li}: messages typed here and not yet confirmed by the server.
const pending = new Map();

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function formatTime(iso) {
  const d = new Date(iso);
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function setStatus(state, text) {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
}

function nearBottom() {
  return log.scrollHeight - log.scrollTop - log.clientHeight < 120;
}

function scrollToBottom() {
  log.scrollTop = log.scrollHeight;
}

function buildItem(alias, body, iso) {
  const li = document.createElement("li");
  li.className = "msg";
  const who = document.createElement("p");
  who.className = "who";
  const name = document.createElement("span");
  name.className = "alias";
  name.textContent = alias;
  who.append(name);
  if (iso) {
    const time = document.createElement("time");
    time.dateTime = iso;
    time.textContent = formatTime(iso);
    who.append(" ", time);
  }
  const text = document.createElement("p");
  text.className = "body";
  text.textContent = body;
  li.append(who, text);
  return li;
}

function deletedItem() {
  const li = document.createElement("li");
  li.className = "msg";
  const text = document.createElement("p");
  text.className = "body gone";
  text.textContent = "Message deleted";
  li.append(text);
  return li;
}

function warnedItem(message) {
  // A collapsed message carries no body at all: only its warning and a way to ask for it.
  const li = buildItem(message.author.alias, "", message.created_at);
  li.classList.add("warned");
  const body = li.querySelector(".body");
  body.className = "cw";
  body.textContent = "Content warning: suicide or self-harm. ";
  const show = document.createElement("button");
  show.type = "button";
  show.className = "link reveal";
  show.textContent = "Show message";
  show.dataset.seq = String(message.seq);
  body.append(show);
  return li;
}

function worriedMenu(seq) {
  const details = document.createElement("details");
  details.className = "more";
  const summary = document.createElement("summary");
  const label = document.createElement("span");
  label.className = "visually-hidden";
  label.textContent = "More about this message";
  const dots = document.createElement("span");
  dots.setAttribute("aria-hidden", "true");
  dots.textContent = "⋯";
  summary.append(label, dots);
  const form = document.createElement("form");
  form.method = "post";
  form.className = "worried";
  form.action = `/rooms/${roomId}/worried/${seq}`;
  const token = document.createElement("input");
  token.type = "hidden";
  token.name = "csrf_token";
  token.value = csrf;
  const button = document.createElement("button");
  button.type = "submit";
  button.className = "link";
  button.textContent = "I'm worried about this person";
  const note = document.createElement("p");
  note.className = "small muted";
  note.textContent = "Only facilitators see this, and they never say who raised it.";
  form.append(token, button, note);
  details.append(summary, form);
  return details;
}

function insertConfirmed(message, own) {
  if (document.getElementById(`m-${message.seq}`)) return false;
  let li;
  if (message.deleted) li = deletedItem();
  else if (message.collapsed) li = warnedItem(message);
  else li = buildItem(message.author.alias, message.body, message.created_at);
  if (!message.deleted && !own) li.append(worriedMenu(message.seq));
  li.id = `m-${message.seq}`;
  li.dataset.seq = String(message.seq);
  if (own) li.classList.add("own");
  // Keep seq order; pending bubbles always stay last.
  let before = list.querySelector("li.pending");
  for (const item of list.querySelectorAll("li[data-seq]")) {
    if (Number(item.dataset.seq) > message.seq) { before = item; break; }
  }
  list.insertBefore(li, before);
  document.getElementById("empty-note")?.remove();
  return true;
}

function receive(message, clientId) {
  if (message.room_id !== roomId) return;
  const mine = clientId && pending.has(clientId);
  if (mine) {
    pending.get(clientId).li.remove();
    pending.delete(clientId);
    savePending();
  }
  const stick = mine || nearBottom();
  const added = insertConfirmed(message, Boolean(clientId));
  if (message.seq > lastSeq) lastSeq = message.seq;
  if (!firstSeq) firstSeq = message.seq;
  // A warned message is never read out before it is revealed.
  if (added && !clientId) {
    announcer.textContent = message.collapsed
      ? `${message.author.alias} shared a message with a content warning.`
      : `${message.author.alias}: ${message.body}`;
  }
  if (stick) scrollToBottom();
}

function savePending() {
  const items = [...pending].map(([clientId, p]) => ({ clientId, body: p.body }));
  try {
    if (items.length) sessionStorage.setItem(storeKey, JSON.stringify(items));
    else sessionStorage.removeItem(storeKey);
  } catch { /* storage may be full or disabled; the bubbles stay on screen */ }
}

function addPending(clientId, body) {
  const li = buildItem(root.dataset.alias, body, null);
  li.classList.add("own", "pending");
  const state = document.createElement("p");
  state.className = "state";
  state.textContent = ready ? "Sending…" : "Waiting for the connection…";
  li.append(state);
  list.append(li);
  document.getElementById("empty-note")?.remove();
  pending.set(clientId, { body, li });
  savePending();
  scrollToBottom();
}

function transmit(clientId) {
  const p = pending.get(clientId);
  if (!p || !ready) return;
  p.li.querySelector(".state").textContent = "Sending…";
  ws.send(JSON.stringify({ type: "send", room_id: roomId, client_id: clientId, body: p.body }));
}

function showError(text) {
  errorBox.querySelector("p").textContent = text;
  errorBox.hidden = false;
}

function failed(clientId, code, text) {
  const p = pending.get(clientId);
  if (!p) return;
  p.li.remove();
  pending.delete(clientId);
  savePending();
  // The words go back into the composer: nothing typed is ever lost.
  if (!textarea.value.trim()) textarea.value = p.body;
  else textarea.value = `${p.body}\n${textarea.value}`;
  showError(`That message couldn't be sent yet: ${text}`);
  if (code === "rules_not_accepted") rulesBanner.hidden = false;
}

function handle(frame) {
  switch (frame.type) {
    case "ready":
      ready = true;
      retryDelay = 500;
      if (frame.facilitators_online) showFacilitatorsOnline(frame.facilitators_online[String(roomId)]);
      setStatus("online", "Connected. New messages appear as they're sent.");
      for (const clientId of pending.keys()) transmit(clientId);
      break;
    case "message":
      receive(frame.message, frame.client_id);
      break;
    case "ack":
      receive(frame.message, frame.client_id);
      if (frame.check_in) showCheckIn(frame.check_in);
      break;
    case "facilitators":
      if (frame.room_id === roomId) showFacilitatorsOnline(frame.online);
      break;
    case "alert":
    case "flag":
      if (frame.flag) showAlert(frame.flag, frame.type === "alert", frame.guide);
      break;
    case "alerts":
      for (const flag of frame.flags || []) showAlert(flag, true, null);
      break;
    case "error":
      if (frame.client_id && pending.has(frame.client_id)) failed(frame.client_id, frame.code, frame.message);
      break;
    case "rules_changed":
      if (frame.room_id === roomId) rulesBanner.hidden = false;
      break;
    case "room_removed":
      if (frame.room_id === roomId) {
        stopped = true;
        setStatus("offline", "You're no longer a member of this group.");
        form.hidden = true;
      }
      break;
    default:
      break;
  }
}

function showFacilitatorsOnline(online) {
  if (noFacilitator && online !== undefined) noFacilitator.hidden = Boolean(online) || isFacilitator;
}

function showCheckIn(level) {
  checkIn.dataset.level = level;
  checkIn.querySelector(".urgent-only").hidden = level !== "imminent";
  checkIn.querySelector(".say-imminent").hidden = level !== "imminent";
  checkIn.querySelector(".say-elevated").hidden = level === "imminent";
  checkIn.hidden = false;
  announcer.textContent = "It sounds like things are really hard right now. Ways to get support are shown above the messages.";
}

function showAlert(flag, urgent, guide) {
  // For facilitators only: the server sends these to nobody else.
  alertsBox.hidden = false;
  const card = document.createElement("section");
  // Red is kept for danger: other items for facilitators are calm cards.
  card.className = urgent ? "alert-card" : "alert-card flag-card";
  card.setAttribute("role", urgent ? "alert" : "status");
  const title = document.createElement("h2");
  const who = flag.subject && flag.subject.alias ? flag.subject.alias : "A member";
  const titles = {
    risk: urgent ? `${who} may be in danger` : `${who} may be struggling`,
    worried: `A member is worried about ${who}`,
    talk: `${who} would like to talk privately`,
  };
  title.textContent = titles[flag.kind] || "Something needs a facilitator";
  card.append(title);
  if (flag.message && flag.message.body) {
    const quote = document.createElement("blockquote");
    quote.textContent = flag.message.body;
    card.append(quote);
  }
  if (flag.signals && flag.signals.length) {
    const signals = document.createElement("p");
    signals.className = "small";
    signals.textContent = `Signals: ${flag.signals.join(", ").replaceAll("_", " ")}`;
    card.append(signals);
  }
  if (guide && guide.steps) {
    const details = document.createElement("details");
    details.open = urgent;
    const summary = document.createElement("summary");
    summary.textContent = guide.title || "What to do";
    const steps = document.createElement("ol");
    for (const step of guide.steps) {
      const li = document.createElement("li");
      li.textContent = `${step.title}. ${step.text}`;
      steps.append(li);
    }
    details.append(summary, steps);
    card.append(details);
  }
  const links = document.createElement("p");
  const open = document.createElement("a");
  open.href = `/rooms/${flag.room_id}`;
  open.textContent = "Open the room";
  const queue = document.createElement("a");
  queue.href = "/facilitate";
  queue.textContent = "Go to the queue";
  const done = document.createElement("button");
  done.type = "button";
  done.className = "link";
  done.textContent = "Hide this (it stays in the queue)";
  done.addEventListener("click", () => card.remove());
  links.append(open, " · ", queue, " · ", done);
  card.append(links);
  alertsBox.prepend(card);
}

async function reveal(button) {
  const seq = Number(button.dataset.seq);
  try {
    const res = await fetch(`/api/v1/rooms/${roomId}/messages/${seq}`, {
      credentials: "same-origin", headers: { Accept: "application/json" },
    });
    if (!res.ok) throw new Error(String(res.status));
    const { message } = await res.json();
    const holder = button.closest(".cw");
    const body = document.createElement("p");
    body.className = "body";
    body.textContent = message.body;
    holder.textContent = "Content warning: suicide or self-harm";
    holder.classList.add("small");
    holder.after(body);
    body.setAttribute("tabindex", "-1");
    body.focus();
  } catch {
    button.textContent = "Couldn't load it. Try again";
  }
}

list.addEventListener("click", (event) => {
  const button = event.target.closest("button.reveal, a.reveal");
  if (!button) return;
  event.preventDefault();
  reveal(button);
});

list.addEventListener("submit", async (event) => {
  const worried = event.target.closest("form.worried");
  if (!worried) return;
  event.preventDefault();
  try {
    const res = await fetch(worried.action.replace(/\/rooms\/(\d+)\/worried\/(\d+)$/, "/api/v1/rooms/$1/messages/$2/worried"), {
      method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
    });
    if (!res.ok) throw new Error(String(res.status));
    const thanks = document.createElement("p");
    thanks.className = "small";
    thanks.setAttribute("role", "status");
    thanks.textContent = "Thank you. Only the facilitators will see this.";
    worried.replaceWith(thanks);
  } catch {
    worried.submit();
  }
});

document.getElementById("check-in-close")?.addEventListener("click", () => { checkIn.hidden = true; });

function connect() {
  if (stopped) return;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(`${scheme}//${location.host}/api/v1/ws`);
  ws.addEventListener("open", () => {
    ws.send(JSON.stringify({ type: "hello", resume: { [roomId]: lastSeq } }));
    clearInterval(pingTimer);
    pingTimer = setInterval(() => ready && ws.send('{"type":"ping"}'), 25000);
  });
  ws.addEventListener("message", (event) => {
    let frame;
    try { frame = JSON.parse(event.data); } catch { return; }
    handle(frame);
  });
  ws.addEventListener("close", (event) => {
    ready = false;
    clearInterval(pingTimer);
    if (event.code === 4001 || event.code === 4401) {
      stopped = true;
      setStatus("offline", "You've been signed out. Sign in again to keep talking.");
      return;
    }
    if (stopped) return;
    for (const p of pending.values()) p.li.querySelector(".state").textContent = "Waiting for the connection…";
    setStatus("offline", "Connection lost. Reconnecting… Anything you send will go when we're back.");
    setTimeout(connect, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 8000);
  });
}

async function loadEarlier() {
  if (!firstSeq || firstSeq <= 1) { earlierBtn.hidden = true; return; }
  earlierBtn.disabled = true;
  try {
    const res = await fetch(`/api/v1/rooms/${roomId}/messages?before=${firstSeq}&limit=50`, {
      credentials: "same-origin", headers: { Accept: "application/json" },
    });
    if (!res.ok) throw new Error(String(res.status));
    const { messages } = await res.json();
    const height = log.scrollHeight;
    for (const m of messages) insertConfirmed(m, m.author.alias === root.dataset.alias);
    if (messages.length) firstSeq = messages[0].seq;
    log.scrollTop += log.scrollHeight - height; // keep what the reader was looking at in place
    if (!messages.length || firstSeq <= 1) earlierBtn.hidden = true;
  } catch {
    earlierBtn.textContent = "Couldn't load earlier messages. Try again";
  } finally {
    earlierBtn.disabled = false;
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const body = textarea.value;
  if (!body.trim()) return;
  errorBox.hidden = true;
  const clientId = newClientId();
  addPending(clientId, body);
  textarea.value = "";
  textarea.focus();
  transmit(clientId);
});

textarea.addEventListener("keydown", (event) => {
  const finePointer = window.matchMedia("(pointer: fine)").matches;
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing && finePointer) {
    event.preventDefault();
    form.requestSubmit();
  }
});

earlierBtn.addEventListener("click", loadEarlier);
if ("IntersectionObserver" in window) {
  // Only when the log overflows, so the button came into view because the reader scrolled up
  // (to the very top too: Home, a fling, a wheel notch all land on scrollTop 0).
  new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && !earlierBtn.hidden && !earlierBtn.disabled && log.scrollHeight > log.clientHeight) loadEarlier();
  }, { root: log }).observe(earlierBtn);
}

for (const time of list.querySelectorAll("time")) time.textContent = formatTime(time.dateTime);

// Messages typed before a reload or a crash are sent again with the same client_id:
// the server answers with the stored message instead of posting twice.
try {
  for (const item of JSON.parse(sessionStorage.getItem(storeKey) || "[]")) addPending(item.clientId, item.body);
} catch { /* ignore unreadable storage */ }

setStatus("offline", "Connecting…");
scrollToBottom();
connect();

// The live room: one websocket, optimistic "sending" messages, resume after any drop.
// Nothing here trusts message text: bodies are only ever set with textContent.
// How each message looks is in room-messages.js; the warning controls and "Ask before
// sharing" are in room-composer.js; "Report" from a message's menu is in room-report.js;
// how long to wait before reconnecting is in reconnect.js.

import { formatTime, makeRenderer } from "./room-messages.js";
import { makeComposer } from "./room-composer.js";
import { setupReports } from "./room-report.js";
import { makeSession } from "./room-session.js";
import { makeBackoff } from "./reconnect.js";

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
const supportRoom = root.dataset.kind === "support";
const myAlias = root.dataset.alias;
const render = makeRenderer({
  roomId,
  csrf,
  alias: myAlias,
  path: location.pathname,
  isFacilitator,
  categories: JSON.parse(root.dataset.categories || "{}"),
  facilitators: new Set(JSON.parse(root.dataset.facilitators || "[]")),
});
const composerArea = document.querySelector(".composer-area");
const closedNote = document.getElementById("closed-note");
// Members write during sessions only, in a group that chose that: the card says when.
const session = makeSession({
  roomId,
  csrf,
  onChange(canWrite) {
    if (!composerArea || composerArea.dataset.guestReadsOnly) return;
    composerArea.hidden = !canWrite;
    if (closedNote) closedNote.hidden = canWrite;
  },
});
const composer = makeComposer({ render, textarea, announce: (text) => { announcer.textContent = text; } });

let lastSeq = Number(root.dataset.lastSeq) || 0;
let firstSeq = Number(root.dataset.firstSeq) || 0;
let ws = null;
let ready = false;
let connectedBefore = false;
const backoff = makeBackoff();
let pingTimer = null;
let stopped = false;
// client_id -> {body, warning, suggest, li}: typed here, not yet confirmed by the server.
const pending = new Map();
// Messages this reader chose to see ("Show"): they stay open when filters are re-applied.
const revealed = new Set();

function newClientId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
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

function insertConfirmed(message, own) {
  if (document.getElementById(`m-${message.seq}`)) return false;
  const li = render.build(message, own);
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
  // A warned message is never read out before it is revealed (render.announcement).
  if (added && !clientId) {
    const text = render.announcement(message);
    if (text) announcer.textContent = text;
  }
  if (stick) scrollToBottom();
}

function savePending() {
  const items = [...pending].map(([clientId, p]) => ({ clientId, body: p.body, warning: p.warning, suggest: p.suggest }));
  try {
    if (items.length) sessionStorage.setItem(storeKey, JSON.stringify(items));
    else sessionStorage.removeItem(storeKey);
  } catch { /* storage may be full or disabled; the bubbles stay on screen */ }
}

function addPending(clientId, body, warning = null, suggest = false) {
  const li = render.pendingItem(body, warning);
  li.querySelector(".state").textContent = ready ? "Sending…" : "Waiting for the connection…";
  list.append(li);
  document.getElementById("empty-note")?.remove();
  pending.set(clientId, { body, warning, suggest, li });
  savePending();
  scrollToBottom();
}

function transmit(clientId) {
  const p = pending.get(clientId);
  if (!p || !ready) return;
  p.li.querySelector(".state").textContent = "Sending…";
  const frame = { type: "send", room_id: roomId, client_id: clientId, body: p.body, suggest_warning: p.suggest };
  if (p.warning) frame.content_warning = p.warning;
  ws.send(JSON.stringify(frame));
}

function showError(text) {
  errorBox.querySelector("p").textContent = text;
  errorBox.hidden = false;
}

// A message the server didn't take goes back into the composer, warning and all:
// nothing typed is ever lost.
function takeBack(clientId) {
  const p = pending.get(clientId);
  p.li.remove();
  pending.delete(clientId);
  savePending();
  if (!textarea.value.trim()) textarea.value = p.body;
  else textarea.value = `${p.body}\n${textarea.value}`;
  if (p.warning) {
    const mine = composer.current();
    if (!mine) composer.set(p.warning);
    else composer.tick(p.warning.categories || []);
  }
  return p;
}

// The group's own rules: said as the server says them, the draft kept.
const GROUP_RULES = new Set([
  "warning_required", "consent_required", "off_limits", "session_rules", "room_closed", "guest_read_only",
]);

function failed(clientId, frame) {
  const p = pending.get(clientId);
  if (!p) return;
  if (frame.code === "warning_suggested") {
    const suggested = (frame.suggested || []).filter((c) => composer.wantsSuggestion([c]));
    if (!suggested.length) {
      // Only topics the author already chose to send without: don't ask again.
      p.suggest = false;
      savePending();
      transmit(clientId);
      return;
    }
    takeBack(clientId);
    errorBox.hidden = true;
    composer.suggest(suggested);
    return;
  }
  takeBack(clientId);
  if (GROUP_RULES.has(frame.code)) showError(frame.message);
  else showError(`That message couldn't be sent yet: ${frame.message}`);
  if (frame.code === "warning_required") {
    composer.tick(frame.required || []);
    composer.open(false);
  }
  if (frame.code === "consent_required") composer.openAsk((frame.categories || [])[0]);
  if (frame.code === "rules_not_accepted") rulesBanner.hidden = false;
  if (frame.code === "session_rules") session.needsAcknowledgement();
  if (frame.code === "room_closed") session.refresh();
}

function handle(frame) {
  switch (frame.type) {
    case "ready":
      if (connectedBefore) session.refresh(); // a session may have changed while we were away
      connectedBefore = true;
      ready = true;
      backoff.reset();
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
      if (frame.client_id && pending.has(frame.client_id)) failed(frame.client_id, frame);
      break;
    case "consent_updated":
      if (frame.room_id === roomId) consentUpdated(frame.seq, frame.consent);
      break;
    case "filters_changed":
      reshapeVisible();
      break;
    case "sanction":
      showSanction(frame.sanction);
      break;
    case "message_hidden":
      // A facilitator removed a message: fetch it again, shaped for this reader. The live
      // region may still hold its words (the last message read out): those go too.
      if (frame.room_id === roomId) {
        announcer.textContent = "";
        reshapeVisible();
      }
      break;
    case "session_changed":
      if (frame.room_id === roomId) session.refresh();
      break;
    case "rules_changed":
      if (frame.room_id === roomId) rulesBanner.hidden = false;
      break;
    case "room_removed":
      if (frame.room_id === roomId) {
        stopped = true;
        setStatus(
          "offline",
          frame.reason === "host_left"
            ? "Your guest access has ended, because the member who invited you is no longer in this group."
            : "You're no longer a member of this group.",
        );
        form.hidden = true;
        // The warning and "Ask before sharing" controls go with the message box.
        if (composerArea) composerArea.hidden = true;
      }
      break;
    default:
      break;
  }
}

// A facilitator took a step about this person: say what, which rule, why, and where to
// ask for a review. Only they receive it.
function showSanction(s) {
  const box = document.getElementById("sanction-notice");
  if (!box || !s) return;
  const rule = s.rule ? ` (ground rule ${s.rule})` : "";
  const until = s.until ? new Date(s.until).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "";
  const what = {
    hide: `A facilitator removed one of your messages${rule}.`,
    warning: `A facilitator sent you a private reminder${rule}.`,
    mute: `A facilitator paused your posting in ${s.group.name} until ${until}${rule}. You can still read.`,
    removal: `A facilitator removed you from ${s.group.name}${rule}.`,
    ban: `A facilitator removed you from ${s.group.name} and you can't rejoin${rule}.`,
  }[s.kind] || `A facilitator took a step about you${rule}.`;
  const why = s.reason ? ` They said: "${s.reason}"` : "";
  box.querySelector("p").textContent =
    `${what}${why} If you think this was a mistake, you can ask for a review: open "I need support now" and talk to a facilitator privately.`;
  box.hidden = false;
  box.focus();
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
    report: `A member reported ${who}`,
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

function isMine(message) {
  return !message.hidden && message.author.alias === myAlias;
}

async function fetchJSON(url, options = {}) {
  const res = await fetch(url, {
    credentials: "same-origin",
    ...options,
    headers: { Accept: "application/json", "X-CSRF-Token": csrf, ...(options.body ? { "Content-Type": "application/json" } : {}) },
  });
  const data = res.status === 204 ? {} : await res.json().catch(() => ({}));
  return { ok: res.ok, status: res.status, data };
}

// "Show" and "Show anyway": this one message, in full, for this reader only.
async function reveal(control) {
  const li = control.closest("li.msg");
  const seq = Number(li.dataset.seq);
  try {
    const { ok, status, data } = await fetchJSON(`/api/v1/rooms/${roomId}/messages/${seq}`);
    if (!ok) throw new Error(String(status));
    const wasWarned = li.classList.contains("warned");
    render.fill(li, data.message, isMine(data.message));
    li.classList.add("revealed");
    if (wasWarned) li.classList.add("warned");
    revealed.add(seq);
    const first = li.querySelector(".body, .ask, .note-line") || li;
    first.setAttribute("tabindex", "-1");
    first.focus();
  } catch {
    control.textContent = "Couldn't load it. Try again";
  }
}

function consentUpdated(seq, consent) {
  const li = document.getElementById(`m-${seq}`);
  if (!li || li.dataset.kind !== "consent") return;
  const share = li.querySelector(".consent-share");
  const wasGranted = share ? !share.hidden : false;
  render.updateConsent(li, consent);
  if (share && consent.granted && !wasGranted) announcer.textContent = "The room said OK to your question. You can share now.";
}

// The reader's filters or blocks changed (here or on another device): every message on
// screen is fetched again in its new shape. Messages they chose to open stay open,
// unless they've now blocked the author.
let reshaping = null;
async function reshapeVisible() {
  if (reshaping) { reshaping.again = true; return; }
  reshaping = { again: false };
  try {
    let after = Math.max(firstSeq - 1, 0);
    while (after < lastSeq) {
      const { ok, data } = await fetchJSON(`/api/v1/rooms/${roomId}/messages?after=${after}&limit=200`);
      if (!ok || !data.messages.length) break;
      for (const m of data.messages) reshape(m);
      after = data.messages[data.messages.length - 1].seq;
    }
  } catch { /* the next change, or a reload, shapes them again */ }
  const again = reshaping.again;
  reshaping = null;
  if (again) reshapeVisible();
}

function reshape(message) {
  const li = document.getElementById(`m-${message.seq}`);
  if (!li) return;
  if (revealed.has(message.seq) && message.hidden_because !== "blocked") return;
  revealed.delete(message.seq);
  const hadFocus = li.contains(document.activeElement);
  render.fill(li, message, isMine(message));
  li.classList.remove("revealed");
  if (hadFocus) {
    li.setAttribute("tabindex", "-1");
    li.focus();
  }
}

list.addEventListener("click", (event) => {
  const share = event.target.closest(".share-now");
  if (share) {
    event.preventDefault();
    composer.shareNow(share.dataset.category, share.closest("li.msg").querySelector(".topic")?.textContent);
    return;
  }
  const toggle = event.target.closest(".block-toggle, .block-cancel");
  if (toggle) {
    const box = toggle.closest(".block-confirm");
    const opener = box.querySelector(".block-toggle");
    const opening = toggle === opener && opener.getAttribute("aria-expanded") !== "true";
    opener.setAttribute("aria-expanded", String(opening));
    box.querySelector(".block-step").hidden = !opening;
    if (!opening) opener.focus();
    return;
  }
  const control = event.target.closest(".reveal");
  if (!control) return;
  event.preventDefault();
  reveal(control);
});

function say(form, text, role = "status") {
  let line = form.querySelector(".form-note");
  if (!line) {
    line = document.createElement("p");
    line.className = "form-note small";
    form.append(line);
  }
  line.setAttribute("role", role);
  line.textContent = text;
}

async function worried(form) {
  const res = await fetch(form.action.replace(/\/rooms\/(\d+)\/worried\/(\d+)$/, "/api/v1/rooms/$1/messages/$2/worried"), {
    method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
  });
  if (!res.ok) throw new Error(String(res.status));
  const thanks = document.createElement("p");
  thanks.className = "small";
  thanks.setAttribute("role", "status");
  thanks.textContent = "Thank you. Only the facilitators will see this.";
  form.replaceWith(thanks);
}

async function block(form) {
  const li = form.closest("li.msg");
  const seq = Number(li.dataset.seq);
  const { ok, status, data } = await fetchJSON("/api/v1/me/blocks", {
    method: "POST", body: JSON.stringify({ room_id: roomId, seq }),
  });
  if (status === 422 && data.error) { say(form, data.error.message, "alert"); return; }
  if (!ok) throw new Error(String(status));
  announcer.textContent = "Blocked. Their messages are hidden for you, and they won't be told. You can undo this in Settings.";
  li.setAttribute("tabindex", "-1");
  li.focus();
  await reshapeVisible(); // the server also says so (filters_changed); this is just sooner
}

async function answerConsent(form, value) {
  const li = form.closest("li.msg");
  const seq = Number(li.dataset.seq);
  const { ok, status, data } = await fetchJSON(`/api/v1/rooms/${roomId}/consent/${seq}/answer`, {
    method: "POST", body: JSON.stringify({ answer: value }),
  });
  if (!ok && data.error) { say(form, data.error.message, "alert"); return; }
  if (!ok) throw new Error(String(status));
  render.updateConsent(li, data.consent);
  for (const b of form.querySelectorAll("button[name=answer]")) b.setAttribute("aria-pressed", String(b.value === value));
  say(form, `You said ${value === "ok" ? "OK" : "not now"}. You can change your answer.`);
}

list.addEventListener("submit", async (event) => {
  const form = event.target;
  const kind = ["worried", "block-form", "consent-answer"].find((k) => form.classList.contains(k));
  if (!kind) return;
  event.preventDefault();
  try {
    if (kind === "worried") await worried(form);
    else if (kind === "block-form") await block(form);
    else await answerConsent(form, event.submitter ? event.submitter.value : "ok");
  } catch {
    // The plain form still works without the API (submit() leaves the button's value out).
    if (kind === "consent-answer" && event.submitter) {
      const answer = Object.assign(document.createElement("input"), { type: "hidden", name: "answer", value: event.submitter.value });
      form.append(answer);
    }
    form.submit();
  }
});

composer.onAsk(async (topic, category) => {
  const clientId = newClientId();
  const body = { client_id: clientId, topic };
  if (category) body.category = category;
  try {
    const { ok, data } = await fetchJSON(`/api/v1/rooms/${roomId}/consent`, { method: "POST", body: JSON.stringify(body) });
    if (!ok) {
      const error = data.error || {};
      if (error.code === "rules_not_accepted") rulesBanner.hidden = false;
      return error.message || "That couldn't be sent. Please try again.";
    }
    receive(data.message, clientId);
    announcer.textContent = "Your question is in the room. You'll see the answers on it.";
    return "";
  } catch {
    return "That couldn't be sent: the connection dropped. Please try again.";
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
    setTimeout(connect, backoff.next());
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
    for (const m of messages) insertConfirmed(m, isMine(m));
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
  const choice = composer.choose(event.submitter);
  if (!choice) return; // "Change": the warning controls are open, nothing sent yet
  const body = textarea.value;
  if (!body.trim()) return;
  errorBox.hidden = true;
  const clientId = newClientId();
  addPending(clientId, body, choice.warning, choice.suggest && !supportRoom);
  textarea.value = "";
  composer.reset();
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
render.upgradeLinks(list);
setupReports({ list, roomId, csrf });

// Messages typed before a reload or a crash are sent again with the same client_id:
// the server answers with the stored message instead of posting twice.
try {
  for (const item of JSON.parse(sessionStorage.getItem(storeKey) || "[]")) {
    addPending(item.clientId, item.body, item.warning || null, Boolean(item.suggest));
  }
} catch { /* ignore unreadable storage */ }

setStatus("offline", "Connecting…");
scrollToBottom();
connect();

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

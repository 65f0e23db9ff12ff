// The session card at the top of a group's room. The server renders it (one template,
// _session.html); this module fetches it again whenever the session may have changed
// (a facilitator opened or closed one, someone said yes, or its start or end came) and
// lets an attendee acknowledge the ground rules without leaving the room.

function localTime(iso, withDay) {
  const d = new Date(iso);
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (!withDay) return time;
  return `${d.toLocaleDateString([], { weekday: "long", day: "numeric", month: "long" })}, ${time}`;
}

export function makeSession({ roomId, csrf, onChange }) {
  let timer = null;
  const card = () => document.getElementById("session-card");

  function canWrite() {
    const c = card();
    return !c || c.dataset.canWrite === "yes";
  }

  function localise() {
    const c = card();
    if (!c) return;
    for (const t of c.querySelectorAll("time[datetime]")) {
      const live = c.classList.contains("is-live");
      t.textContent = localTime(t.dateTime, !live);
    }
  }

  function schedule() {
    clearTimeout(timer);
    const at = card()?.dataset.nextChange;
    if (!at) return;
    const wait = Date.parse(at) - Date.now() + 1000;
    if (wait > 0 && wait < 2 ** 31 - 1) timer = setTimeout(refresh, wait);
  }

  async function acknowledge(form) {
    const key = form.querySelector('input[name="key"]').value;
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await fetch(`/api/v1/rooms/${roomId}/session/acknowledge`, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ key }),
      });
    } finally {
      await refresh(true);
    }
  }

  function wire() {
    const form = card()?.querySelector(".ack-form");
    form?.addEventListener("submit", (event) => {
      event.preventDefault();
      acknowledge(form);
    });
  }

  async function refresh(keepFocus = false) {
    let html;
    try {
      const res = await fetch(`/rooms/${roomId}/session-card`, { credentials: "same-origin" });
      if (!res.ok) return;
      html = await res.text();
    } catch {
      return;
    }
    const tpl = document.createElement("template");
    tpl.innerHTML = html;
    const fresh = tpl.content.querySelector("#session-card");
    const old = card();
    if (old && fresh) old.replaceWith(fresh);
    else if (old) old.remove();
    else if (fresh) document.getElementById("sanction-notice")?.before(fresh);
    if (keepFocus && fresh) fresh.focus();
    localise();
    wire();
    schedule();
    onChange(canWrite());
  }

  // A send refused because the session's rules aren't acknowledged yet: show the card.
  function needsAcknowledgement() {
    const c = card();
    if (!c) return refresh(true);
    c.scrollIntoView({ block: "nearest" });
    c.focus();
    return undefined;
  }

  localise();
  wire();
  schedule();
  return { refresh, canWrite, needsAcknowledgement };
}

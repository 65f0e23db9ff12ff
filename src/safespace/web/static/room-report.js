// "Report this message" and "Report this person" from a message's ⋯ menu: the links open
// a dialog (templates/room.html, #report-dialog) where the member picks the ground rule
// and may add a note, sent to the JSON API. Without JavaScript, or a browser without
// <dialog>, the same links open /rooms/{id}/report/{seq}: that form on a page of its own.
// The reporter is never shown to anyone; the thanks is the server's own words.

export function setupReports({ list, roomId, csrf }) {
  const dialog = document.getElementById("report-dialog");
  const status = document.getElementById("report-status");
  const dismiss = document.getElementById("report-dismiss");
  if (!dialog || typeof dialog.showModal !== "function") return;
  const form = dialog.querySelector("form");
  const title = dialog.querySelector("#report-title");
  const about = dialog.querySelector("#report-about");
  const quote = dialog.querySelector("#report-quote");
  const error = dialog.querySelector("#report-error");
  const send = form.querySelector("button[type=submit]");
  let target = null; // {seq, alias, person, opener, key}

  function open(link) {
    const seq = Number(new URL(link.href).pathname.split("/").pop());
    const person = link.dataset.about === "person";
    const li = link.closest("li.msg");
    const alias = link.dataset.alias || li?.querySelector(".alias")?.textContent || "";
    // The words, only as this reader already sees them (never a folded message's).
    const words = person ? "" : li?.querySelector("p.body:not(.gone)")?.textContent || "";
    const key = person ? `person:${alias}` : `message:${seq}`;
    // Reopened for the same message or person: what they chose and wrote is still there.
    if (!target || target.key !== key) form.reset();
    target = { seq, alias, person, opener: link, key };
    form.action = link.href;
    form.elements.about.value = person ? "person" : "message";
    form.elements.alias.value = person ? alias : "";
    title.textContent = person ? `Report ${alias}` : "Report this message";
    about.textContent = person
      ? `About how ${alias} has been in this group, not only one message.`
      : `A message from ${alias}${words ? ":" : "."}`;
    quote.textContent = words;
    quote.hidden = !words;
    error.hidden = true;
    dialog.showModal();
    title.focus(); // where they are first, then the choices
  }

  // The thanks stays until it's closed (or the page is left): it's the reader's to dismiss.
  function thank(text) {
    status.textContent = ""; // the same thanks twice is still read out the second time
    setTimeout(() => {
      status.textContent = text;
      dismiss.hidden = false;
    }, 50);
  }

  dismiss.hidden = !status.textContent;
  dismiss.addEventListener("click", () => {
    status.textContent = "";
    dismiss.hidden = true;
    document.getElementById("log")?.focus();
  });

  function showError(text) {
    error.querySelector("p").textContent = text;
    error.hidden = false;
  }

  list.addEventListener("click", (event) => {
    const link = event.target.closest("a.report-link");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    open(link);
  });

  dialog.querySelector("[data-close-report]").addEventListener("click", () => dialog.close());

  // Escape closes it too (the browser's own "cancel"). Focus goes back to the link, or,
  // if the message was redrawn meanwhile, to its menu.
  dialog.addEventListener("close", () => {
    quote.textContent = ""; // a message removed later leaves no copy of its words here
    if (!target) return;
    const back = target.opener.isConnected
      ? target.opener
      : document.querySelector(`#m-${target.seq} details.more > summary`);
    back?.focus();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const rule = form.elements.rule.value;
    const body = { rule: /^\d+$/.test(rule) ? Number(rule) : null, note: form.elements.note.value.trim() || null };
    if (target.person) body.alias = target.alias;
    else body.seq = target.seq;
    send.disabled = true;
    try {
      const res = await fetch(`/api/v1/rooms/${roomId}/reports`, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(body),
      });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) {
        showError((data.error && data.error.message) || "That report couldn't be sent. Please try again.");
        return;
      }
      form.reset();
      target.key = "";
      dialog.close();
      thank(data.message);
    } catch {
      showError("That report couldn't be sent: the connection dropped. What you wrote is still here. Please try again.");
    } finally {
      send.disabled = false;
    }
  });
}

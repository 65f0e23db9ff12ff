// Around the message box: the content-warning controls, the calm "Add a content warning?"
// prompt when the server suggests one, and "Ask before sharing". The sending itself
// (outbox, socket, retries) stays in room.js.

export function makeComposer({ render, textarea, announce }) {
  const details = document.getElementById("cw-details");
  const summary = document.getElementById("cw-summary");
  const boxes = [...document.querySelectorAll('input[name="cw"][form="composer"]')];
  const note = document.getElementById("cw-note");
  const prompt = document.getElementById("cw-suggest");
  const promptText = document.getElementById("cw-suggest-text");
  const promptButtons = prompt.querySelectorAll("button[name='cw_add'], button[name='cw_change']");
  // Topics the author chose to send without, for as long as this page is open: not asked again.
  const declined = new Set();
  // The topics the prompt on screen asks about (the server may have rendered it already).
  let asked = prompt.hidden ? [] : promptButtons[0].value.split(",").filter(Boolean);

  function current() {
    const categories = boxes.filter((b) => b.checked).map((b) => b.value);
    const text = note.value.split(/\s+/).filter(Boolean).join(" ");
    if (!categories.length && !text) return null;
    return text ? { categories, note: text } : { categories };
  }

  function refresh() {
    const w = current();
    summary.textContent = w ? render.warningText(w) : "Add a content warning";
  }

  function set(warning) {
    for (const b of boxes) b.checked = Boolean(warning && (warning.categories || []).includes(b.value));
    note.value = (warning && warning.note) || "";
    refresh();
  }

  function tick(categories) {
    for (const b of boxes) if (categories.includes(b.value)) b.checked = true;
    refresh();
  }

  // Opens the controls; with focus, on the first ticked topic (or the first one).
  function open(focus) {
    details.open = true;
    if (focus) (boxes.find((b) => b.checked) || boxes[0]).focus();
  }

  function reset() {
    set(null);
    details.open = false;
  }

  function hidePrompt() {
    prompt.hidden = true;
  }

  // The server thinks the message touches these topics. Only ones not already declined.
  function suggest(categories) {
    asked = categories;
    promptText.textContent = `This mentions ${render.words(categories)}. Add a content warning?`;
    for (const b of promptButtons) b.value = categories.join(",");
    prompt.hidden = false;
    prompt.focus();
  }

  function wantsSuggestion(categories) {
    return categories.some((c) => !declined.has(c));
  }

  // What the author chose, from the button that sent the form. Returns how to send it,
  // or null when the choice was only "Change" (nothing is sent yet).
  function choose(submitter) {
    const name = submitter ? submitter.name : "";
    // "Add warning" and "Change" carry the suggested topics (also without JavaScript).
    const offered = name.startsWith("cw_") && submitter.value ? submitter.value.split(",") : asked;
    if (!name && !prompt.hidden) {
      // A second Send while the question is open is not an answer to it: ask again.
      prompt.focus();
      return null;
    }
    hidePrompt();
    if (name === "cw_change") {
      tick(offered);
      open(true);
      return null;
    }
    if (name === "cw_add") tick(offered);
    const warning = current();
    const covered = warning ? warning.categories : [];
    if (name === "send_without") {
      for (const c of offered) if (!covered.includes(c)) declined.add(c);
    }
    asked = [];
    // The first try asks the server to suggest; an answer to its suggestion doesn't.
    return { warning, suggest: !name };
  }

  boxes.forEach((b) => b.addEventListener("change", refresh));
  note.addEventListener("input", refresh);
  refresh();

  // "Ask before sharing": the request goes through the JSON API and appears in the room.
  const askDetails = document.getElementById("ask-details");
  const askForm = document.getElementById("consent-form");
  const askError = document.getElementById("ask-error");

  function openAsk(category) {
    if (!askDetails) return;
    askDetails.open = true;
    if (category) askForm.elements.category.value = category;
  }

  // "Share now" on an answered request: the warning is attached by default (its topic,
  // or the words of the request as a note when it named none).
  function shareNow(category, topic) {
    if (category) tick([category]);
    else if (topic && !note.value.trim()) {
      note.value = topic.slice(0, Number(note.maxLength) > 0 ? note.maxLength : 100);
      refresh();
    }
    open(false);
    textarea.focus();
    announce(`The message box is ready${category ? `, with a content warning for ${render.words([category])}` : ""}.`);
  }

  function onAsk(handler) {
    if (!askForm) return;
    askForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      askError.hidden = true;
      const data = new FormData(askForm);
      const button = askForm.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const problem = await handler(String(data.get("topic")), String(data.get("category") || ""));
        if (problem) {
          askError.querySelector("p").textContent = problem;
          askError.hidden = false;
          askForm.elements.topic.focus();
          return;
        }
        askForm.reset();
        askDetails.open = false;
        textarea.focus();
      } finally {
        button.disabled = false;
      }
    });
  }

  return { current, set, tick, open, reset, suggest, hidePrompt, wantsSuggestion, choose, openAsk, shareNow, onAsk };
}

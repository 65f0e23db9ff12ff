// How one message looks to this reader: in full, behind its warning, as a one-line
// placeholder, or as a "May I talk about ...?" card. The server chooses the shape for each
// reader (reading/shaping.py): a collapsed or hidden message arrives with no body, so none
// can reach the page before its reader asks. templates/_message.html renders the same
// markup for the history: keep the two alike. Text is only ever set with textContent.

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function formatTime(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function hidden(name, value) {
  const input = el("input");
  input.type = "hidden";
  input.name = name;
  input.value = value;
  return input;
}

function button(text, className, type = "button") {
  const b = el("button", className, text);
  b.type = type;
  return b;
}

// ctx: {roomId, csrf, alias (mine), path, categories {id: label}, facilitators Set, isFacilitator}
export function makeRenderer(ctx) {
  const label = (id) => ctx.categories[id] || (id === "method-detail" ? "Methods described in detail" : id);

  // For sentences: "self-harm", "abuse, self-harm and suicide"; with a comma before the
  // last "and" when a label has its own ("suicide, and death and grief").
  function words(ids) {
    const w = ids.map((id) => label(id).toLowerCase());
    if (w.length < 2) return w.join("");
    const comma = w.some((x) => x.includes(" and ")) ? "," : "";
    return `${w.slice(0, -1).join(", ")}${comma} and ${w[w.length - 1]}`;
  }

  function warningText(w) {
    const topics = (w.categories || []).map(label).join(", ");
    const note = w.note ? `“${w.note}”` : "";
    return `Content warning: ${topics}${topics && note ? " · " : ""}${note}`;
  }

  function time(iso) {
    const t = el("time", "", formatTime(iso));
    t.dateTime = iso;
    return t;
  }

  // "facilitator", or whose guest they were when they wrote it.
  function roleBadge(author) {
    if (author.role === "facilitator") return "facilitator";
    if (author.role === "guest") return author.guest_of ? `guest of ${author.guest_of}` : "guest";
    return "";
  }

  function who(message) {
    const p = el("p", "who");
    p.append(el("span", "alias", message.author.alias));
    const badge = roleBadge(message.author);
    if (badge) p.append(" ", el("span", "role-badge", badge));
    if (message.created_at) p.append(" ", time(message.created_at));
    return p;
  }

  function revealControl(message, text, className) {
    const b = button(text, className);
    b.dataset.seq = String(message.seq);
    return b;
  }

  function collapsedBox(message) {
    const box = el("div", "cw-box");
    if (message.collapsed_because === "muted") box.append(el("p", "cw", "Collapsed: contains a word you muted"));
    if (message.content_warning) box.append(el("p", "cw", warningText(message.content_warning)));
    const show = el("p", "cw-show");
    show.append(revealControl(message, "Show message", "secondary small reveal"));
    box.append(show);
    return box;
  }

  function filteredLine(message) {
    const topics = ((message.content_warning || {}).categories || []).map(label).join(", ");
    const p = el("p", "note-line", `Hidden by your filters (${topics}) `);
    p.append(revealControl(message, "Show anyway", "link reveal"));
    return p;
  }

  function worriedForm(seq) {
    const form = el("form", "worried");
    form.method = "post";
    form.action = `/rooms/${ctx.roomId}/worried/${seq}`;
    form.append(
      hidden("csrf_token", ctx.csrf),
      button("I'm worried about this person", "link", "submit"),
      el("p", "small muted", "Only facilitators see this, and they never say who raised it."),
    );
    return form;
  }

  // Links to the report page (no JavaScript needed); room-report.js opens them as a dialog.
  function reportLinks(message) {
    const p = el("p", "report-links");
    const page = `/rooms/${ctx.roomId}/report/${message.seq}`;
    const one = el("a", "report-link", "Report this message");
    one.href = page;
    const them = el("a", "report-link", "Report this person");
    them.href = `${page}?about=person`;
    them.dataset.about = "person";
    them.dataset.alias = message.author.alias;
    p.append(one, " · ", them);
    return p;
  }

  // Blocking takes two steps: "Block this person" shows what it means, then "Block ...".
  function blockToggle(seq) {
    const b = button("Block this person", "link block-toggle");
    b.setAttribute("aria-expanded", "false");
    b.setAttribute("aria-controls", `block-${seq}`);
    return b;
  }

  function blockConfirm(message) {
    const box = el("div", "block-confirm");
    const step = el("div", "block-step");
    step.id = `block-${message.seq}`;
    step.hidden = true;
    const explain = el("p", "small", "You'll stop seeing their messages, here and in any group you share. They won't be told. You can undo this any time in ");
    const settings = el("a", "", "Settings");
    settings.href = "/settings/filters";
    explain.append(settings, ".");
    const form = el("form", "block-form");
    form.method = "post";
    form.action = `/rooms/${ctx.roomId}/block/${message.seq}`;
    form.append(
      hidden("csrf_token", ctx.csrf),
      hidden("back", ctx.path),
      button(`Block ${message.author.alias}`, "secondary small", "submit"),
      " ",
      button("Cancel", "link block-cancel"),
    );
    step.append(explain, form);
    box.append(blockToggle(message.seq), step);
    return box;
  }

  function menu(message) {
    const details = el("details", "more");
    const summary = el("summary");
    const dots = el("span", "", "⋯");
    dots.setAttribute("aria-hidden", "true");
    summary.append(el("span", "visually-hidden", "More about this message"), dots);
    details.append(summary, worriedForm(message.seq), reportLinks(message));
    if (!ctx.facilitators.has(message.author.alias)) details.append(blockConfirm(message));
    return details;
  }

  function consentCard(message, own) {
    const c = message.consent || {};
    const ask = el("p", "ask");
    ask.id = `ask-${message.seq}`;
    if (own) ask.append("You asked");
    else ask.append(el("span", "alias", message.author.alias), " asks");
    ask.append(": May I talk about ", el("strong", "topic", message.body), "?");
    if (c.category) ask.append(" ", el("span", "tag", label(c.category)));
    const meta = el("p", "consent-meta small");
    meta.append(el("span", "consent-counts"), " ", time(message.created_at));
    const parts = [ask, meta, el("p", "consent-room small")];
    if (own) {
      const share = el("p", "consent-share");
      const now = button("Share now", "small share-now");
      now.dataset.category = c.category || "";
      share.append(now);
      parts.push(el("p", "consent-status small"), share);
      return parts;
    }
    const form = el("form", "consent-answer");
    form.method = "post";
    form.action = `/rooms/${ctx.roomId}/consent/${message.seq}/answer`;
    const choices = el("div", "consent-buttons");
    choices.setAttribute("role", "group");
    choices.setAttribute("aria-labelledby", ask.id);
    for (const [value, text] of [["ok", "OK"], ["not_now", "Not now"]]) {
      const b = button(text, "secondary small", "submit");
      b.name = "answer";
      b.value = value;
      choices.append(b);
    }
    form.append(hidden("csrf_token", ctx.csrf), hidden("back", ctx.path), choices);
    if (ctx.isFacilitator) form.append(el("p", "small muted", "Your answer is the room's answer."));
    parts.push(form);
    return parts;
  }

  function consentStatus(c) {
    if (c.granted) return "The room said OK. You can share now.";
    if (c.room_answer === "not_now" || c.not_now > 0) {
      return "Not right now. That isn't about you: someone here can't hear it today. A facilitator can help you find another time, or talk with you privately.";
    }
    return "Waiting for the room to answer.";
  }

  // The parts of a consent card that change as people answer (live, or server-rendered).
  function updateConsent(li, c) {
    li.querySelector(".consent-counts").textContent = `OK ${c.ok} · Not now ${c.not_now}`;
    const room = li.querySelector(".consent-room");
    room.hidden = !c.room_answer;
    room.textContent = c.room_answer ? `A facilitator said ${c.room_answer === "ok" ? "OK" : "not now"} for the room` : "";
    const status = li.querySelector(".consent-status");
    if (status) status.textContent = consentStatus(c);
    const share = li.querySelector(".consent-share");
    if (share) share.hidden = !c.granted;
  }

  // Puts a message's current shape into its <li> (new, revealed, or re-shaped after the
  // reader's filters changed).
  function fill(li, message, own) {
    const card = message.kind === "consent" && !message.collapsed && !message.hidden && !message.deleted;
    li.classList.toggle("warned", Boolean(message.collapsed));
    li.classList.toggle("placeholder", Boolean(message.hidden));
    li.classList.toggle("consent-card", card);
    if (card) li.dataset.kind = "consent";
    else delete li.dataset.kind;
    const parts = [];
    const rule = message.removed && message.removed.rule ? ` ${message.removed.rule}` : "";
    if (message.deleted) parts.push(el("p", "body gone", "Message deleted"));
    else if (message.removed && !message.body) {
      parts.push(el("p", "body gone", `Removed by a facilitator for breaking ground rule${rule}`));
    } else if (message.hidden_because === "blocked") parts.push(el("p", "note-line", "Message from someone you blocked"));
    else if (message.hidden) parts.push(filteredLine(message));
    else {
      if (card) parts.push(...consentCard(message, own));
      else {
        parts.push(who(message));
        if (message.collapsed) parts.push(collapsedBox(message));
        else {
          if (message.content_warning) parts.push(el("p", "cw small", warningText(message.content_warning)));
          parts.push(el("p", "body", message.body));
          if (message.removed) {
            parts.push(el("p", "cw small", `Removed for everyone else: ground rule${rule}`));
          }
        }
      }
      if (!own) parts.push(menu(message));
    }
    li.replaceChildren(...parts);
    if (card) updateConsent(li, message.consent || {});
  }

  function build(message, own) {
    const li = el("li", "msg");
    li.id = `m-${message.seq}`;
    li.dataset.seq = String(message.seq);
    if (own) li.classList.add("own");
    fill(li, message, own);
    return li;
  }

  // One of mine, not yet confirmed by the server.
  function pendingItem(body, warning) {
    const li = el("li", "msg own pending");
    li.append(who({ author: { alias: ctx.alias } }));
    if (warning) li.append(el("p", "cw small", warningText(warning)));
    li.append(el("p", "body", body), el("p", "state"));
    return li;
  }

  // What the live region says: never the words of a message that waits behind a warning.
  function announcement(message) {
    const alias = message.author.alias;
    if (message.deleted || message.hidden) return "";
    if (message.collapsed) {
      return message.collapsed_because === "muted"
        ? `${alias} sent a message with a word you muted. It's collapsed.`
        : `${alias} shared a message with a content warning.`;
    }
    if (message.kind === "consent") return `${alias} asks the room: May I talk about ${message.body}?`;
    const warned = message.content_warning ? `${warningText(message.content_warning)}. ` : "";
    return `${alias}: ${warned}${message.body}`;
  }

  // The history's links ("Show message", "Share now") work without JavaScript by loading
  // the page again; with it, they act in place, so they become buttons. Blocking gets its
  // two steps.
  function upgradeLinks(root) {
    for (const title of root.querySelectorAll(".block-confirm > .block-title")) {
      const step = title.nextElementSibling;
      step.hidden = true;
      step.querySelector("form").append(" ", button("Cancel", "link block-cancel"));
      title.replaceWith(blockToggle(step.id.slice("block-".length)));
    }
    for (const a of root.querySelectorAll("a.reveal, a.share-now")) {
      const reveal = a.classList.contains("reveal");
      const b = button(a.textContent, reveal ? (a.classList.contains("button") ? "secondary small reveal" : "link reveal") : "small share-now");
      Object.assign(b.dataset, a.dataset);
      a.replaceWith(b);
    }
  }

  return { build, fill, upgradeLinks, updateConsent, pendingItem, announcement, warningText, words, label };
}

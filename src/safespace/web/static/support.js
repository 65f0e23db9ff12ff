// Help, always one tap away: the help panel, the region of its crisis lines, and quick exit.
// Loaded on every page. Without JavaScript the same things work as plain links and forms:
// "I need support now" opens /support, "Quick exit" is a link to the neutral page.

const EXIT_KEY = "safespace:quick-exit"; // sessionStorage: when this tab last left (ms)
const REGION_KEY = "safespace:region"; // localStorage: the region someone picked
const ESCAPES = 3;
const ESCAPE_WINDOW_MS = 1500;

const exitMeta = document.querySelector('meta[name="quick-exit"]');
const exitUrl = (exitMeta && exitMeta.content) || "https://www.bbc.com/weather";

// ------------------------------------------------------------------ quick exit

function quickExit(event) {
  if (event) event.preventDefault();
  try {
    sessionStorage.setItem(EXIT_KEY, String(Date.now()));
  } catch {
    // Storage may be off; leaving matters more than remembering.
  }
  document.documentElement.classList.add("ss-exiting");
  // replace(): this page leaves the tab's history, so Back can't return to it. Earlier
  // pages of ours in the history are sent on by exit-guard.js when Back reaches them.
  window.location.replace(exitUrl);
}

for (const link of document.querySelectorAll("[data-quick-exit]")) {
  link.addEventListener("click", quickExit);
}

let escapeTimes = [];
document.addEventListener(
  "keydown",
  (event) => {
    if (event.key !== "Escape" || event.repeat) return;
    const now = performance.now();
    escapeTimes = escapeTimes.filter((t) => now - t < ESCAPE_WINDOW_MS);
    escapeTimes.push(now);
    if (escapeTimes.length >= ESCAPES) {
      escapeTimes = [];
      quickExit(event);
    }
  },
  true,
);

// ------------------------------------------------------------------ regions

let data = null;
try {
  data = JSON.parse(document.getElementById("crisis-data").dataset.json);
} catch {
  data = null;
}

function storedRegion() {
  try {
    return localStorage.getItem(REGION_KEY);
  } catch {
    return null;
  }
}

function storeRegion(code) {
  try {
    localStorage.setItem(REGION_KEY, code);
  } catch {
    // Not remembered: the page still shows the chosen region.
  }
}

function known(code) {
  return Boolean(data && code && Object.prototype.hasOwnProperty.call(data.regions, code));
}

function renderEmergency(target, region) {
  const parts = [];
  if (region.emergency.length === 0) {
    parts.push("your local emergency number");
  } else {
    region.emergency.forEach((e, i) => {
      if (i > 0) parts.push(" or ");
      const a = document.createElement("a");
      a.href = e.href;
      a.textContent = e.number;
      parts.push(a);
    });
  }
  target.replaceChildren(...parts);
}

function renderLines(list, region) {
  const level = Number(list.dataset.headingLevel) || 3;
  const items = region.lines.map((line) => {
    const li = document.createElement("li");
    li.className = "line";
    const name = document.createElement(`h${level}`);
    name.className = "line-name";
    name.textContent = line.name;
    const hours = document.createElement("p");
    hours.className = "line-hours";
    hours.textContent = line.hours;
    const links = document.createElement("p");
    links.className = "line-links";
    for (const link of line.links) {
      const a = document.createElement("a");
      a.className = `line-link ${link.kind}`;
      a.href = link.href;
      if (link.kind === "web") a.rel = "noreferrer";
      a.textContent = link.label;
      links.append(a);
    }
    li.append(name, hours, links);
    if (line.notes) {
      const notes = document.createElement("p");
      notes.className = "line-notes";
      notes.textContent = line.notes;
      li.append(notes);
    }
    return li;
  });
  list.replaceChildren(...items);
}

function supportHref(code) {
  return code ? `/support?region=${encodeURIComponent(code)}` : "/support";
}

function showRegion(code, { announce = false } = {}) {
  if (!known(code)) return;
  const region = data.regions[code];
  for (const list of document.querySelectorAll("[data-lines]")) {
    if (list.dataset.region !== code) renderLines(list, region);
    list.dataset.region = code;
  }
  for (const target of document.querySelectorAll("[data-emergency-numbers]")) {
    renderEmergency(target, region);
  }
  for (const select of document.querySelectorAll("[data-region-select]")) {
    select.value = code;
  }
  if (announce) {
    for (const status of document.querySelectorAll("[data-region-status]")) {
      status.textContent = `Showing lines for ${region.name}.`;
    }
  }
  const opener = document.getElementById("support-now");
  if (opener) opener.href = supportHref(code);
  for (const a of document.querySelectorAll('#support-panel a[href="/support"]')) {
    a.href = supportHref(code);
  }
}

function chooseRegion(code) {
  if (!known(code)) return;
  storeRegion(code);
  showRegion(code, { announce: true });
  if (location.pathname === "/support") {
    const url = new URL(location.href);
    url.searchParams.set("region", code);
    // Keep history.state: exit-guard.js keeps its note on this entry there.
    history.replaceState(history.state, "", url);
  }
}

for (const form of document.querySelectorAll("[data-region-form]")) {
  const select = form.querySelector("[data-region-select]");
  select.addEventListener("change", () => chooseRegion(select.value));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    chooseRegion(select.value);
  });
}

if (data) {
  const fromUrl = new URLSearchParams(location.search).get("region");
  const wanted = fromUrl ? fromUrl.toUpperCase() : null;
  if (location.pathname === "/support" && known(wanted)) {
    // A region picked on this page (with or without JavaScript) is remembered.
    storeRegion(wanted);
    showRegion(wanted);
  } else if (known(storedRegion())) {
    showRegion(storedRegion());
  }
}

// ------------------------------------------------------------------ the help panel

const panel = document.getElementById("support-panel");
const opener = document.getElementById("support-now");
const FOCUSABLE =
  'a[href], button:not([disabled]), select:not([disabled]), input:not([type="hidden"]):not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';
let returnFocus = null;

function focusables(root) {
  return [...root.querySelectorAll(FOCUSABLE)].filter((el) => el.getClientRects().length > 0);
}

function openPanel() {
  returnFocus = document.activeElement instanceof HTMLElement ? document.activeElement : opener;
  panel.showModal();
  document.documentElement.classList.add("panel-open");
  panel.scrollTop = 0;
  // The title first: a screen reader hears where they are, then reads on.
  panel.querySelector("#sp-title").focus();
}

if (panel && opener && typeof panel.showModal === "function") {
  opener.setAttribute("aria-haspopup", "dialog");
  opener.setAttribute("aria-controls", "support-panel");
  opener.addEventListener("click", (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return; // a new tab or window: let the link open /support
    }
    event.preventDefault();
    openPanel();
  });

  // Other links to /support may ask to open the panel instead (data-open-support).
  for (const link of document.querySelectorAll("a[data-open-support]")) {
    link.addEventListener("click", (event) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
        return;
      }
      event.preventDefault();
      openPanel();
    });
  }

  for (const button of panel.querySelectorAll("[data-close-panel]")) {
    button.addEventListener("click", () => panel.close());
  }

  panel.addEventListener("close", () => {
    document.documentElement.classList.remove("panel-open");
    const target = returnFocus && returnFocus.isConnected ? returnFocus : opener;
    returnFocus = null;
    target.focus();
  });

  // A click on the dimmed page around the panel closes it (wide screens; on a phone the
  // panel fills the screen).
  panel.addEventListener("click", (event) => {
    if (event.target !== panel) return;
    const r = panel.getBoundingClientRect();
    const inside =
      event.clientX >= r.left &&
      event.clientX <= r.right &&
      event.clientY >= r.top &&
      event.clientY <= r.bottom;
    if (!inside) panel.close();
  });

  // Keep Tab inside the panel while it is open (the page behind is inert anyway).
  panel.addEventListener("keydown", (event) => {
    if (event.key !== "Tab") return;
    const items = focusables(panel);
    if (items.length === 0) return;
    const first = items[0];
    const last = items[items.length - 1];
    const active = document.activeElement;
    if (event.shiftKey && (active === first || !panel.contains(active))) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (active === last || !panel.contains(active))) {
      event.preventDefault();
      first.focus();
    }
  });
}

// Quick exit's second half, run first thing on every page (a classic script in <head>).
// After someone used Quick exit in this tab, pressing Back must never show SafeSpace again:
// any page of ours reached through Back/Forward that was opened before that exit sends the
// tab straight on to the neutral page, hidden until it has gone.
(function () {
  "use strict";
  var EXIT_KEY = "safespace:quick-exit";
  var root = document.documentElement;
  var meta = document.querySelector('meta[name="quick-exit"]');
  var url = meta && meta.content;

  function exitedAt() {
    try {
      return Number(sessionStorage.getItem(EXIT_KEY)) || 0;
    } catch (e) {
      return 0;
    }
  }

  // Each history entry notes when it was first opened (in history.state, which the
  // browser keeps with the entry), so a page opened after someone came back on purpose
  // still works normally, while everything from before the exit stays out of reach.
  function openedAt() {
    var state = history.state;
    return state && typeof state === "object" && typeof state.ssOpened === "number"
      ? state.ssOpened
      : 0;
  }

  function leave() {
    root.classList.add("ss-exiting");
    location.replace(url);
  }

  function mustLeave() {
    var t = exitedAt();
    return Boolean(url && t && openedAt() <= t);
  }

  var entry = performance.getEntriesByType && performance.getEntriesByType("navigation")[0];
  var historyLoad = entry
    ? entry.type === "back_forward"
    : Boolean(performance.navigation && performance.navigation.type === 2);

  if (historyLoad && mustLeave()) {
    leave();
    return;
  }
  if (!openedAt()) {
    try {
      var state = history.state && typeof history.state === "object" ? history.state : {};
      var next = {};
      for (var k in state) {
        if (Object.prototype.hasOwnProperty.call(state, k)) next[k] = state[k];
      }
      next.ssOpened = Date.now();
      history.replaceState(next, "");
    } catch (e) {
      // Without a note the entry counts as opened before any exit: the safe side.
    }
  }
  // Restored from the back/forward cache: no script runs again, only this event.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && mustLeave()) leave();
  });
})();

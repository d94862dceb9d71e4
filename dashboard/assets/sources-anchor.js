/* Citation links (/sources#S14c) land on their entry, and the Sources page filter box works.
 *
 * Dash renders the page after the browser has already tried (and failed) to jump to the
 * fragment, so the jump is redone here once the target exists: on first load, on in-app
 * navigation (dcc.Link pushes history state) and on hash changes.
 */
(function () {
  "use strict";
  var handled = "";

  function targetOfHash() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    return id ? document.getElementById(id) : null;
  }

  function reveal() {
    var key = window.location.pathname + window.location.hash;
    if (!window.location.hash || key === handled) {
      return;
    }
    var target = targetOfHash();
    if (!target) {
      return;
    }
    handled = key;
    target.hidden = false;
    var details = target.closest("details");
    if (details) {
      details.open = true;
    }
    var previous = document.querySelectorAll(".anchor-target");
    for (var i = 0; i < previous.length; i += 1) {
      previous[i].classList.remove("anchor-target");
    }
    target.classList.add("anchor-target");
    target.scrollIntoView({ block: "start" });
    if (typeof target.focus === "function") {
      target.focus({ preventScroll: true });
    }
  }

  function filterSources(query) {
    var words = query.toLowerCase().split(/\s+/).filter(Boolean);
    var entries = document.querySelectorAll(".source-entry");
    var shown = 0;
    for (var i = 0; i < entries.length; i += 1) {
      var text = entries[i].textContent.toLowerCase();
      var match = words.every(function (word) { return text.indexOf(word) !== -1; });
      entries[i].hidden = !match;
      shown += match ? 1 : 0;
    }
    var count = document.getElementById("sources-filter-count");
    if (count) {
      count.textContent = words.length ? shown + " of " + entries.length + " sources" : "";
    }
  }

  document.addEventListener("input", function (event) {
    if (event.target && event.target.id === "sources-filter") {
      filterSources(event.target.value);
    }
  });
  window.addEventListener("hashchange", function () { handled = ""; reveal(); });
  window.addEventListener("popstate", function () { handled = ""; reveal(); });
  window.addEventListener("_dashprivate_pushstate", function () { handled = ""; reveal(); });
  new MutationObserver(reveal).observe(document.documentElement, { childList: true, subtree: true });
  reveal();
})();

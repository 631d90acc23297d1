// Page behaviour of the dashboard that needs no server: theme and palette, "my car", the class
// filter and grouping of the standings, the running order pushed by the server, and following
// the weekend to its next session. Loaded with <script src defer>, never inline (CSP); every
// choice is kept in localStorage and re-applied after htmx swaps rows in.
(function () {
  "use strict";

  var root = document.documentElement;

  function load(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }
  function save(key, value) {
    try {
      if (value === null || value === "") window.localStorage.removeItem(key);
      else window.localStorage.setItem(key, value);
    } catch (e) { /* private mode: the choice lasts for this page only */ }
  }

  // --- theme (dark / light; default from prefers-color-scheme) and colour-blind palette ---
  function systemTheme() {
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: light)").matches
      ? "light" : "dark";
  }
  function applyTheme() {
    root.setAttribute("data-theme", load("lmust-theme") || systemTheme());
    var cb = load("lmust-palette") === "cb";
    root.classList.toggle("palette-cb", cb);
    var button = document.getElementById("palette-toggle");
    if (button) button.setAttribute("aria-pressed", cb ? "true" : "false");
  }
  applyTheme();

  // --- the standings: my car, class filter, grouping, running order ---
  function body() { return document.getElementById("standings-body"); }

  function rows() {
    var tbody = body();
    return tbody ? Array.prototype.slice.call(tbody.querySelectorAll(":scope > [data-car]")) : [];
  }

  function applyMine() {
    var mine = load("lmust-mine");
    var all = document.querySelectorAll("[data-car]");
    for (var i = 0; i < all.length; i++) {
      all[i].classList.toggle("mine", !!mine && all[i].getAttribute("data-car") === mine);
    }
    var select = document.getElementById("mine-select");
    if (select && select.value !== (mine || "")) select.value = mine || "";
  }

  function applyFilter() {
    var wanted = load("lmust-class") || "";
    var select = document.getElementById("class-filter");
    if (select) {
      var known = Array.prototype.some.call(select.options, function (o) { return o.value === wanted; });
      if (!known) wanted = "";
      select.value = wanted;
    }
    rows().forEach(function (tr) {
      tr.classList.toggle("filtered-out", !!wanted && tr.getAttribute("data-class") !== wanted);
    });
  }

  // The server sends the running order (#standings-order data-order: row ids) when it changes;
  // rows are moved, created empty when new (their own fragment fills them in the same message)
  // and removed when gone. Grouped by class, rows keep that order within their class.
  function applyOrder() {
    var tbody = body();
    var holder = document.getElementById("standings-order");
    if (!tbody || !holder) return;
    var ids = (holder.getAttribute("data-order") || "").split(" ").filter(Boolean);
    var wanted = {};
    ids.forEach(function (id) { wanted[id] = true; });
    rows().forEach(function (tr) { if (!wanted[tr.id]) tr.remove(); });
    var grouped = load("lmust-group") === "class";
    var table = document.getElementById("standings");
    if (table) table.classList.toggle("grouped", grouped);
    var list = ids.map(function (id, index) {
      var tr = document.getElementById(id);
      if (!tr) {
        tr = document.createElement("div");
        tr.setAttribute("role", "row");
        tr.className = "tr";
        tr.id = id;
        tr.setAttribute("data-car", "");
      }
      return { tr: tr, index: index };
    });
    if (grouped) {
      var classOrder = {};
      list.forEach(function (item) {
        var c = item.tr.getAttribute("data-class") || "";
        if (!(c in classOrder)) classOrder[c] = item.index;
      });
      list.sort(function (a, b) {
        var ca = classOrder[a.tr.getAttribute("data-class") || ""];
        var cb = classOrder[b.tr.getAttribute("data-class") || ""];
        return ca - cb || a.index - b.index;
      });
    }
    var current = rows();
    var same = current.length === list.length && list.every(function (item, i) {
      return current[i] === item.tr;
    });
    if (!same) list.forEach(function (item) { tbody.appendChild(item.tr); });
  }

  function applyAll() {
    applyOrder();
    applyMine();
    applyFilter();
  }

  // --- following the weekend: #follow-next[data-href] appears when the next session starts.
  // Only an arrival over the websocket moves the page: opening a finished session whose next
  // session is known stays on it (the link is there to click).
  var nextAtLoad = null;
  function follow() {
    var next = document.getElementById("follow-next");
    if (!next || load("lmust-follow") === "off") return;
    if (nextAtLoad !== null && next.getAttribute("data-href") === nextAtLoad) return;
    var href = next.getAttribute("data-href");
    if (href && href.charAt(0) === "/" && href !== window.location.pathname) {
      window.location.assign(href);
    }
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    if (target.closest("#theme-toggle")) {
      var now = root.getAttribute("data-theme") === "light" ? "dark" : "light";
      save("lmust-theme", now === systemTheme() ? null : now);
      applyTheme();
      return;
    }
    if (target.closest("#palette-toggle")) {
      save("lmust-palette", root.classList.contains("palette-cb") ? null : "cb");
      applyTheme();
      return;
    }
    var pick = target.closest("button.pick");
    if (pick) {
      var row = pick.closest("[data-car]");
      var key = row ? row.getAttribute("data-car") : "";
      save("lmust-mine", load("lmust-mine") === key ? null : key);
      applyMine();
    }
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!(target instanceof Element)) return;
    if (target.id === "mine-select") { save("lmust-mine", target.value); applyMine(); }
    if (target.id === "class-filter") { save("lmust-class", target.value); applyFilter(); }
    if (target.id === "group-class") {
      save("lmust-group", target.checked ? "class" : null);
      applyOrder();
    }
  });

  // A row the page does not have yet (a car joined): htmx finds no element to swap, so it is
  // added here; the running order then puts it in place.
  document.addEventListener("htmx:oobErrorNoTarget", function (event) {
    var content = event.detail && event.detail.content;
    var tbody = body();
    if (tbody && content instanceof Element && content.hasAttribute("data-car") &&
        content.id && !document.getElementById(content.id)) {
      tbody.appendChild(content);
    }
  });
  // After each websocket message (all its swaps done): order, my car, filter, next session.
  document.addEventListener("htmx:wsAfterMessage", function () {
    applyAll();
    follow();
  });

  function start() {
    applyTheme();
    var atLoad = document.getElementById("follow-next");
    nextAtLoad = atLoad ? atLoad.getAttribute("data-href") || "" : null;
    if (/[?&]group=class\b/.test(window.location.search)) save("lmust-group", "class");
    var group = document.getElementById("group-class");
    if (group) group.checked = load("lmust-group") === "class";
    applyAll();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

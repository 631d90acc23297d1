// Live pages: the connection indicator and the "N s ago" texts. Loaded with <script src>, never
// inline (the Content-Security-Policy allows no inline script).
//
// #conn gets class conn-live or conn-down (and the text "live" or "reconnecting") from the htmx
// ws extension's events.
// Every .js-ago element shows how long ago its data-updated-at (unix seconds, rendered by the
// server) was, ticking each second; past data-stale-after seconds (default 30) it also gets
// class ago-stale. An element with data-server-now (unix seconds at render) corrects for a
// browser clock that differs from the server's.
(function () {
  "use strict";

  var offset = 0; // server clock minus browser clock, in seconds
  var serverNowSeen = null;

  function setConnection(live) {
    var el = document.getElementById("conn");
    if (!el) return;
    el.classList.remove("conn-wait");
    el.classList.toggle("conn-live", live);
    el.classList.toggle("conn-down", !live);
    el.textContent = live ? "live" : "reconnecting";
    el.setAttribute("title", live ? "Live updates on" : "Connection lost: reconnecting");
  }

  function agoText(seconds) {
    if (seconds < 60) return Math.floor(seconds) + " s ago";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
    var h = Math.floor(seconds / 3600);
    return h + " h " + Math.floor((seconds % 3600) / 60) + " min ago";
  }

  function readServerNow() {
    var el = document.querySelector("[data-server-now]");
    var value = el ? el.getAttribute("data-server-now") : null;
    if (value === null || value === serverNowSeen) return;
    serverNowSeen = value;
    var at = parseFloat(value);
    if (isFinite(at)) offset = at - Date.now() / 1000;
  }

  function tick() {
    readServerNow();
    var now = Date.now() / 1000 + offset;
    var els = document.querySelectorAll(".js-ago");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var at = parseFloat(el.getAttribute("data-updated-at"));
      var text = isFinite(at) ? agoText(Math.max(0, now - at)) : "never";
      if (el.textContent !== text) el.textContent = text;
      var staleAfter = parseFloat(el.getAttribute("data-stale-after"));
      if (!isFinite(staleAfter)) staleAfter = 30;
      el.classList.toggle("ago-stale", !isFinite(at) || now - at > staleAfter);
    }
  }

  document.addEventListener("htmx:wsOpen", function () { setConnection(true); });
  document.addEventListener("htmx:wsClose", function () { setConnection(false); });
  document.addEventListener("htmx:wsError", function () { setConnection(false); });
  document.addEventListener("htmx:wsAfterMessage", tick); // swapped-in elements show at once
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", tick);
  } else {
    tick();
  }
  setInterval(tick, 1000);
})();

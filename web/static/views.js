// The map and feed pages. Loaded with <script src>, never inline (no inline script under the
// Content-Security-Policy).
//
// The live map and feed are rendered once per session for every viewer, so they carry no
// per-viewer choice: after each websocket swap this script re-applies the viewer's own.
// - Map: #map-page[data-follow] names the followed car (from ?car=); its dot gets class `sel`,
//   is drawn on top, and its <title> text fills the info box. Clicking a dot follows it without
//   a reload (the dot is also a plain link, so it works without JavaScript).
// - Feed: #feed-page[data-filter-car|data-filter-class] hides lines of other cars/classes;
//   lines about no car (flags, phases) stay, as in the server's first, filtered render.
(function () {
  "use strict";

  function follow() {
    var page = document.getElementById("map-page");
    if (!page) return;
    var key = page.getAttribute("data-follow") || "";
    var dots = document.querySelectorAll("#map-cars .car-dot");
    var chosen = null;
    for (var i = 0; i < dots.length; i++) {
      var isIt = key !== "" && dots[i].getAttribute("data-car") === key;
      dots[i].classList.toggle("sel", isIt);
      if (isIt) chosen = dots[i];
    }
    if (chosen) {
      chosen.parentNode.appendChild(chosen); // drawn last: on top
      var info = document.querySelector("#map-info .map-info-text");
      var title = chosen.querySelector("title");
      if (info && title && info.textContent !== title.textContent) {
        info.textContent = title.textContent;
      }
    }
  }

  function filterFeed() {
    var page = document.getElementById("feed-page");
    if (!page) return;
    var car = page.getAttribute("data-filter-car") || "";
    var cls = (page.getAttribute("data-filter-class") || "").toLowerCase();
    if (!car && !cls) return;
    var lines = page.querySelectorAll(".feed li[data-car]");
    for (var i = 0; i < lines.length; i++) {
      var cars = (lines[i].getAttribute("data-car") || "").split(" ").filter(Boolean);
      var classes = (lines[i].getAttribute("data-class") || "").toLowerCase().split(" ");
      var sessionWide = cars.length === 0 && !lines[i].classList.contains("ci");
      var keep = sessionWide ||
        ((!car || cars.indexOf(car) >= 0) && (!cls || classes.some(function (c) {
          return c === cls;
        })));
      lines[i].classList.toggle("filtered-out", !keep);
    }
  }

  function apply() {
    follow();
    filterFeed();
  }

  document.addEventListener("click", function (event) {
    var dot = event.target.closest ? event.target.closest("#map-cars .car-dot") : null;
    var page = document.getElementById("map-page");
    if (!dot || !page) return;
    event.preventDefault();
    var key = dot.getAttribute("data-car") || "";
    page.setAttribute("data-follow", key);
    var url = new URL(window.location.href);
    url.searchParams.set("car", key);
    window.history.replaceState(null, "", url.toString());
    var box = document.getElementById("map-info");
    if (box && !box.querySelector(".map-info-text")) {
      box.textContent = "";
      var p = document.createElement("p");
      p.className = "map-info-text";
      box.appendChild(p);
    }
    apply();
  });
  document.addEventListener("htmx:wsAfterMessage", apply);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", apply);
  } else {
    apply();
  }
})();

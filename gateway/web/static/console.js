// Live updates for the console: a region with data-poll is refreshed from its JSON URL every few
// seconds (server-rendered HTML, so nothing is built from data here). A 401 means the sign-in
// lapsed: reloading the page goes through the gateway's sign-in and comes back.
(function () {
  "use strict";
  var INTERVAL = 3000;
  function poll(region) {
    var url = region.getAttribute("data-poll");
    var busy = false;
    function tick() {
      if (busy || document.hidden) { return; }
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.status === 401) { window.location.reload(); return null; }
          return response.ok ? response.json() : null;
        })
        .then(function (body) {
          if (!body || typeof body.html !== "string") { return; }
          if (region.contains(document.activeElement) && document.activeElement !== document.body) {
            return; // do not pull a form from under someone typing in it
          }
          if (region.getAttribute("data-html") !== body.html) {
            region.innerHTML = body.html;
            region.setAttribute("data-html", body.html);
          }
          if (body.final) { window.clearInterval(timer); }
        })
        .catch(function () { /* offline for a moment: try again next tick */ })
        .finally(function () { busy = false; });
    }
    var timer = window.setInterval(tick, INTERVAL);
  }
  document.addEventListener("DOMContentLoaded", function () {
    var regions = document.querySelectorAll("[data-poll]");
    for (var i = 0; i < regions.length; i++) { poll(regions[i]); }
  });
})();

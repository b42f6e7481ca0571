// console.js — the console's only script: pages marked data-refresh reload themselves while
// visible. Everything works without it.
(function () {
  "use strict";
  var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (!seconds) return;
  window.setInterval(function () {
    if (document.visibilityState === "visible") window.location.reload();
  }, seconds * 1000);
})();

// smp report: the only script of the page. The charts are drawn without it; it lets a
// click (or Enter/Space) on a legend entry hide or show that entry's lines and bars, and
// marks the page ready so that tests can tell it ran.
(function () {
  "use strict";
  function toggle(item) {
    var figure = item.closest("figure");
    var key = item.getAttribute("data-series");
    var off = item.classList.toggle("off");
    item.setAttribute("aria-pressed", off ? "false" : "true");
    figure.querySelectorAll("svg [data-series]").forEach(function (el) {
      if (el.getAttribute("data-series") === key) {
        el.classList.toggle("hidden", off);
      }
    });
  }
  document.querySelectorAll("ul.legend li[data-series]").forEach(function (item) {
    item.setAttribute("role", "button");
    item.setAttribute("tabindex", "0");
    item.setAttribute("aria-pressed", "true");
    item.addEventListener("click", function () { toggle(item); });
    item.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        toggle(item);
      }
    });
  });
  document.documentElement.setAttribute("data-ready", "true");
})();

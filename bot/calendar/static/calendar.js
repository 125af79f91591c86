// campaign-bot calendar: optional state filters. Without script the page shows everything.
(function () {
  "use strict";
  var box = document.querySelector(".filters");
  if (!box) { return; }
  box.hidden = false;
  var hidden = {};
  function apply() {
    var items = document.querySelectorAll("[data-state]");
    for (var i = 0; i < items.length; i++) {
      var el = items[i];
      if (el.classList.contains("filter")) { continue; }
      el.hidden = !!hidden[el.getAttribute("data-state")];
    }
    var entries = document.querySelectorAll(".entry");
    for (var j = 0; j < entries.length; j++) {
      var state = (entries[j].className.match(/state-(\w+)/) || [])[1];
      entries[j].parentNode.hidden = !!hidden[state];
    }
  }
  box.addEventListener("click", function (event) {
    var button = event.target.closest("button.filter");
    if (!button) { return; }
    var state = button.getAttribute("data-state");
    var on = button.getAttribute("aria-pressed") !== "true";
    button.setAttribute("aria-pressed", on ? "true" : "false");
    hidden[state] = !on;
    apply();
  });
})();

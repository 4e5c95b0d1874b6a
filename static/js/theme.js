/* Light, dark or the system's theme: chosen in the header, remembered in this browser.
 *
 * Loaded from <head> without defer or async, so the stored choice is on <html data-theme> before
 * the first paint and a dark page never flashes white. The stylesheet does the rest:
 * data-theme="light" or "dark" wins, "auto" follows prefers-color-scheme. Charts and the graph
 * listen for "portal:themechange" to repaint with the new colours. */
(function () {
  "use strict";

  var KEY = "portal-theme";
  var CHOICES = ["light", "dark", "auto"];
  var root = document.documentElement;

  function stored() {
    try {
      var value = window.localStorage.getItem(KEY);
      return CHOICES.indexOf(value) >= 0 ? value : "auto";
    } catch (error) {
      return "auto"; // storage disabled (privacy settings): follow the system
    }
  }

  function save(choice) {
    try {
      if (choice === "auto") window.localStorage.removeItem(KEY);
      else window.localStorage.setItem(KEY, choice);
    } catch (error) {
      /* not remembered, but still applied to this page */
    }
  }

  function apply(choice) {
    root.setAttribute("data-theme", choice);
  }

  function sync() {
    var current = root.getAttribute("data-theme");
    document.querySelectorAll('#theme-toggle input[name="theme"]').forEach(function (input) {
      input.checked = input.value === current;
    });
  }

  function announce(choice) {
    var event;
    try {
      event = new CustomEvent("portal:themechange", { detail: { theme: choice } });
    } catch (error) {
      return;
    }
    document.dispatchEvent(event);
  }

  apply(stored());
  // The toggle is shown only when this script runs (it does nothing without it).
  root.setAttribute("data-theme-toggle", "");

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.getElementById("theme-toggle");
    if (!toggle) return;
    sync();
    toggle.addEventListener("change", function (event) {
      var choice = event.target && event.target.value;
      if (CHOICES.indexOf(choice) < 0) return;
      apply(choice);
      save(choice);
      announce(choice);
    });
  });

  // Changed in another tab or window: follow it here too.
  window.addEventListener("storage", function (event) {
    if (event.key !== KEY && event.key !== null) return;
    var choice = stored();
    if (choice === root.getAttribute("data-theme")) return;
    apply(choice);
    sync();
    announce(choice);
  });
})();

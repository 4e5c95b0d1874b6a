/* New-run form: preset buttons fill the time window (UTC, up to now). Without JavaScript the
   "Relative window" select does the same on the server; with it, the buttons replace the select. */
(function () {
  "use strict";
  // A form sent back with errors: focus moves to the summary at its top, which links to each.
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();

(function () {
  "use strict";
  var presets = document.querySelector("[data-window-presets]");
  var start = document.getElementById("id_start_time");
  var end = document.getElementById("id_end_time");
  if (!presets || !start || !end) return;
  var relative = document.getElementById("id_relative_window");
  var buttons = presets.querySelectorAll("button[data-window]");

  // datetime-local holds no zone; the form reads it as UTC, like every time on the portal.
  function asInput(date) {
    return date.toISOString().slice(0, 19);
  }

  function press(chosen) {
    buttons.forEach(function (button) {
      if (button.getAttribute("data-window") === "") return;
      button.setAttribute("aria-pressed", button === chosen ? "true" : "false");
    });
  }

  function apply(button) {
    var seconds = Number(button.getAttribute("data-seconds") || 0);
    if (seconds > 0) {
      var now = new Date();
      now.setUTCMilliseconds(0);
      start.value = asInput(new Date(now.getTime() - seconds * 1000));
      end.value = asInput(now);
      press(button);
    } else {
      start.value = "";
      end.value = "";
      press(null);
    }
    start.dispatchEvent(new Event("change", { bubbles: true }));
  }

  buttons.forEach(function (button) {
    button.addEventListener("click", function () { apply(button); });
  });
  [start, end].forEach(function (input) {
    input.addEventListener("input", function () { press(null); });
  });

  // The buttons stand in for the select: a value it held (say, a form sent back with an error)
  // moves into the dates, so the server never sees both.
  if (relative) {
    var field = relative.closest(".field");
    if (relative.value) {
      var match = presets.querySelector('button[data-window="' + relative.value + '"]');
      if (match && !start.value && !end.value) apply(match);
      relative.value = "";
    }
    if (field) field.hidden = true;
  }
  press(null);
  presets.hidden = false;
})();

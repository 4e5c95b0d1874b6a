/* A form sent back with errors: focus moves to the summary at its top, which links to each. */
(function () {
  "use strict";
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();

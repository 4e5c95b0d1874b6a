// Copy buttons: <button data-copy="some-id"> copies the text of the element with that id.
(function () {
  "use strict";

  function fallbackCopy(source) {
    // Plain http (not localhost) has no navigator.clipboard: select the text and copy it.
    const range = document.createRange();
    range.selectNodeContents(source);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    const copied = document.execCommand("copy");
    selection.removeAllRanges();
    return copied;
  }

  function announce(button, text) {
    const status = document.getElementById("copy-status");
    if (status) status.textContent = text;
    const label = button.dataset.label || button.textContent;
    button.dataset.label = label;
    button.textContent = text;
    window.setTimeout(function () { button.textContent = label; }, 2000);
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    const text = source.textContent;
    const done = function () { announce(button, "Copied"); };
    const failed = function () {
      announce(button, fallbackCopy(source) ? "Copied" : "Select and copy by hand");
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, failed);
    } else {
      failed();
    }
  });
})();

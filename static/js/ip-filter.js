/* Run page: hide result-table rows that do not mention one address, with a bar to undo it.
   Shared by the charts and the graph (both may load this file; the first load wins). */
(function () {
  "use strict";
  if (window.PortalIpFilter) return;

  var current = null;
  var bar = null;

  // An address matches a cell when the cell is that address (or a CIDR starting with it),
  // so 10.0.1.1 does not match 10.0.1.10.
  function mentions(text, ip) {
    var tokens = text.split(/[\s,;()[\]]+/);
    for (var i = 0; i < tokens.length; i++) {
      if (tokens[i] === ip || tokens[i].indexOf(ip + "/") === 0) return true;
    }
    return false;
  }

  function rowMentions(row, ip) {
    for (var i = 0; i < row.cells.length; i++) {
      if (mentions(row.cells[i].textContent, ip)) return true;
    }
    return false;
  }

  function noteFor(box) {
    var note = box.querySelector(".ip-filter-note");
    if (!note) {
      note = document.createElement("p");
      note.className = "ip-filter-note";
      var table = box.querySelector("table.data");
      box.insertBefore(note, table || null);
    }
    return note;
  }

  function applyToTables() {
    var shown = 0;
    var total = 0;
    document.querySelectorAll(".result-table").forEach(function (box) {
      var rows = box.querySelectorAll("table.data tbody tr");
      var here = 0;
      rows.forEach(function (row) {
        var keep = current === null || rowMentions(row, current);
        row.hidden = !keep;
        if (keep) here += 1;
      });
      shown += here;
      total += rows.length;
      var note = noteFor(box);
      if (current === null || !rows.length) {
        note.hidden = true;
        return;
      }
      note.hidden = false;
      note.textContent = here
        ? here + " of " + rows.length + " rows on this page mention " + current + "."
        : "No rows on this page mention " + current + ".";
    });
    return { shown: shown, total: total };
  }

  function ensureBar() {
    if (bar) return bar;
    bar = document.createElement("div");
    bar.className = "ip-filter-bar";
    bar.id = "ip-filter-bar";
    bar.setAttribute("role", "status");
    bar.hidden = true;
    var text = document.createElement("span");
    text.className = "ip-filter-text";
    var clear = document.createElement("button");
    clear.type = "button";
    clear.textContent = "Clear filter";
    clear.addEventListener("click", function () { api.clear(); });
    bar.appendChild(text);
    bar.appendChild(clear);
    var first = document.querySelector("section.result");
    if (first) first.parentNode.insertBefore(bar, first);
    else (document.getElementById("main") || document.body).appendChild(bar);
    return bar;
  }

  function announce() {
    document.dispatchEvent(new CustomEvent("portal:ipfilter", { detail: { ip: current } }));
  }

  function render() {
    var counts = applyToTables();
    if (current === null) {
      if (bar) bar.hidden = true;
      return;
    }
    var box = ensureBar();
    var text = box.querySelector(".ip-filter-text");
    text.textContent = "";
    text.appendChild(document.createTextNode("Filtered to "));
    var strong = document.createElement("strong");
    strong.textContent = current;
    text.appendChild(strong);
    text.appendChild(document.createTextNode(
      ": " + counts.shown + " of " + counts.total + " rows on the result pages shown mention it."
    ));
    box.hidden = false;
  }

  var api = {
    apply: function (ip) {
      ip = String(ip || "").trim();
      current = ip || null;
      render();
      announce();
    },
    clear: function () {
      current = null;
      render();
      announce();
    },
    current: function () { return current; }
  };

  // A result table paged through htmx comes back unfiltered: filter it again.
  document.addEventListener("htmx:afterSwap", function () {
    if (current !== null) render();
  });

  window.PortalIpFilter = api;
})();

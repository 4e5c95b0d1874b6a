/* Result tables: after htmx swaps in a sorted or paged table, keep its sort and page in the
   address bar (so a reload or a shared link shows the same rows) and put keyboard focus back on
   the control that was used. Without JavaScript the same links open the result's own page. */
(function () {
  "use strict";
  if (window.PortalResultTables) return;

  var pending = null;

  function keysFor(box) {
    var holder = box.closest("[data-table-state]");
    if (!holder) return null;
    if (holder.getAttribute("data-table-state") === "run") {
      var analysis = box.getAttribute("data-analysis");
      return { sort: analysis + ".sort", page: analysis + ".page" };
    }
    return { sort: "sort", page: "page" };
  }

  function remember(box) {
    var keys = keysFor(box);
    if (!keys || !window.history || !window.history.replaceState) return;
    var url = new URL(window.location.href);
    var sort = box.getAttribute("data-sort") || "";
    var page = box.getAttribute("data-page") || "1";
    if (sort) url.searchParams.set(keys.sort, sort); else url.searchParams.delete(keys.sort);
    if (page !== "1") url.searchParams.set(keys.page, page); else url.searchParams.delete(keys.page);
    // replaceState, not pushState: Back leaves the page instead of replaying every click, and
    // the entry stays an ordinary one that the browser reloads from the server.
    window.history.replaceState(window.history.state, "", url.toString());
  }

  function restoreFocus(box, control) {
    var target = null;
    if (control.column) {
      box.querySelectorAll("a.sort[data-column]").forEach(function (link) {
        if (link.getAttribute("data-column") === control.column) target = link;
      });
    } else if (control.rel) {
      target = box.querySelector('.pager a[rel="' + control.rel + '"]') ||
               box.querySelector(".pager a");
    }
    if (!target) target = box.querySelector("a.sort");
    if (target) target.focus({ preventScroll: true });
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (!elt || !elt.closest) return;
    var box = elt.closest(".result-table");
    if (!box) return;
    pending = {
      id: box.id,
      column: elt.getAttribute("data-column"),
      rel: elt.getAttribute("rel"),
      focused: document.activeElement === elt
    };
  });

  document.addEventListener("htmx:afterSettle", function () {
    if (!pending) return;
    var control = pending;
    pending = null;
    var box = document.getElementById(control.id);
    if (!box) return;
    remember(box);
    if (control.focused) restoreFocus(box, control);
  });

  document.addEventListener("htmx:responseError", function () { pending = null; });

  window.PortalResultTables = { remember: remember };
})();

/* Run page: filter every result table to the rows that mention one address. The search runs
   on the server over every stored row of every analysis (the run page's `?ip=`), so a click on
   a chart bar or a graph node loads the filtered page. Shared by the charts and the graph
   (both may load this file; the first load wins). */
(function () {
  "use strict";
  if (window.PortalIpFilter) return;

  function current() {
    return new URL(window.location.href).searchParams.get("ip");
  }

  function go(ip) {
    var url = new URL(window.location.href);
    // A new filter starts every table on its first page.
    Array.from(url.searchParams.keys()).forEach(function (key) {
      if (/\.page$/.test(key)) url.searchParams.delete(key);
    });
    if (ip) url.searchParams.set("ip", ip); else url.searchParams.delete("ip");
    url.hash = "results";
    window.location.assign(url.toString());
  }

  window.PortalIpFilter = {
    apply: function (ip) {
      ip = String(ip || "").trim();
      go(ip || null);
    },
    clear: function () { go(null); },
    current: current
  };
})();

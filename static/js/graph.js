/* Run page connection graph (Cytoscape.js): addresses and who talked to whom, from graph.json.
   A slider hides quiet edges; clicking an address filters the result tables to it. */
(function () {
  "use strict";
  var section = document.getElementById("graph");
  if (!section || !window.cytoscape) return;

  var container = document.getElementById("graph-canvas");
  var summary = document.getElementById("graph-summary");
  var slider = document.getElementById("graph-min-flows");
  var sliderValue = document.getElementById("graph-min-flows-value");
  var hover = document.getElementById("graph-hover");
  var notes = document.getElementById("graph-notes");
  var numberFormat = new Intl.NumberFormat("en");
  var cy = null;
  var graph = null;
  var thresholds = [1];
  var LABELLED = 12;
  var NEAR_LABELS = 30;

  // Cytoscape adds a <style> element to <head> unless one with this id exists; the
  // Content-Security-Policy refuses inline styles, and portal.css positions the container.
  if (!document.getElementById("__________cytoscape_stylesheet")) {
    var marker = document.createElement("meta");
    marker.id = "__________cytoscape_stylesheet";
    document.head.appendChild(marker);
  }

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function formatBytes(value) {  // decimal units, as in the charts
    var units = ["bytes", "kB", "MB", "GB", "TB", "PB"];
    var size = value;
    var unit = 0;
    while (size >= 1000 && unit < units.length - 1) { size /= 1000; unit += 1; }
    return unit === 0 ? numberFormat.format(value) + " bytes" : size.toFixed(1) + " " + units[unit];
  }

  function scale(value, max, low, high) {
    if (max <= 1) return low;
    return low + (high - low) * (Math.log(value + 1) / Math.log(max + 1));
  }

  function stylesheet() {
    var text = css("--text");
    var bg = css("--bg");
    return [
      { selector: "node", style: {
        "background-color": css("--node-external"), "label": "", "color": text,
        "font-size": 10, "text-valign": "bottom", "text-margin-y": 3,
        "text-outline-color": bg, "text-outline-width": 2,
        "width": "data(size)", "height": "data(size)", "border-width": 0,
        "min-zoomed-font-size": 7
      } },
      { selector: "node.internal", style: { "background-color": css("--node-internal") } },
      { selector: "node.labelled, node.hover, node.near, node.focus, node:selected",
        style: { "label": "data(label)" } },
      { selector: "edge", style: {
        "width": "data(width)", "line-color": css("--edge"), "target-arrow-color": css("--edge"),
        "target-arrow-shape": "triangle", "arrow-scale": 0.8, "curve-style": "bezier",
        "opacity": 0.85
      } },
      { selector: "edge.partly", style: {
        "line-color": css("--chart-reject"), "target-arrow-color": css("--chart-reject"),
        "line-style": "dashed"
      } },
      { selector: "edge.rejected", style: {
        "line-color": css("--chart-reject"), "target-arrow-color": css("--chart-reject")
      } },
      { selector: "node:selected, node.focus", style: {
        "border-width": 3, "border-color": css("--accent"), "font-weight": "bold"
      } },
      { selector: ".faded", style: { "opacity": 0.15 } },
      { selector: ".hidden", style: { "display": "none" } }
    ];
  }

  function elements(data) {
    var maxBytes = data.nodes.reduce(function (m, n) { return Math.max(m, n.bytes); }, 0);
    // Only the internal and the heaviest addresses are labelled up front; the rest on hover.
    var nodes = data.nodes.map(function (node, rank) {
      var kind = node.kind === "internal" ? "internal" : "external";
      return {
        group: "nodes",
        classes: kind + (kind === "internal" || rank < LABELLED ? " labelled" : ""),
        data: {
          id: node.id, label: node.alias ? node.alias + " (" + (node.ip || node.id) + ")" : node.label,
          ip: node.ip || node.id, kind: node.kind, flows: node.flows, bytes: node.bytes,
          size: scale(node.bytes, maxBytes, 12, 40)
        }
      };
    });
    var edges = data.edges.map(function (edge) {
      var cls = edge.rejected > edge.accepted ? "rejected" : edge.rejected > 0 ? "partly" : "";
      return {
        group: "edges",
        classes: cls,
        data: {
          id: edge.id, source: edge.source, target: edge.target, flows: edge.flows,
          bytes: edge.bytes, accepted: edge.accepted, rejected: edge.rejected,
          ports: edge.ports, port_count: edge.port_count,
          width: scale(edge.flows, data.max_flows, 1, 6)
        }
      };
    });
    return nodes.concat(edges);
  }

  function describe(threshold) {
    var edges = cy.edges().not(".hidden");
    var nodes = cy.nodes().not(".hidden");
    var internal = nodes.filter(".internal").length;
    var rejected = edges.filter(".rejected").length;
    var text = "Showing " + numberFormat.format(edges.length) + " of " +
      numberFormat.format(graph.edges.length) + " address pairs with at least " +
      numberFormat.format(threshold) + " flow" + (threshold === 1 ? "" : "s") + ", between " +
      nodes.length + " addresses (" + internal + " internal, " + (nodes.length - internal) +
      " external); " + rejected + " pair" + (rejected === 1 ? " is" : "s are") + " mostly rejected.";
    var busiest = edges.max(function (edge) { return edge.data("flows"); });
    if (busiest.ele) {
      text += " Busiest: " + busiest.ele.source().data("ip") + " → " +
        busiest.ele.target().data("ip") + " (" + numberFormat.format(busiest.value) + " flows).";
    }
    summary.textContent = text;
  }

  function applyThreshold() {
    var threshold = thresholds[Number(slider.value)] || 1;
    sliderValue.textContent = numberFormat.format(threshold);
    slider.setAttribute("aria-valuetext",
      numberFormat.format(threshold) + (threshold === 1 ? " flow" : " flows"));
    cy.batch(function () {
      cy.edges().forEach(function (edge) {
        edge.toggleClass("hidden", edge.data("flows") < threshold);
      });
      cy.nodes().forEach(function (node) {
        var visible = node.connectedEdges().not(".hidden").length > 0 || node.selected();
        node.toggleClass("hidden", !visible);
      });
    });
    describe(threshold);
  }

  function focusOn(ip) {
    cy.batch(function () {
      cy.elements().removeClass("faded focus near");
      if (!ip) return;
      var node = cy.nodes().filter(function (n) { return n.data("ip") === ip || n.id() === ip; });
      if (!node.length) return;
      var near = node.closedNeighborhood();
      cy.elements().not(near).addClass("faded");
      if (near.nodes().length <= NEAR_LABELS) near.nodes().addClass("near");
      node.addClass("focus");
    });
  }

  function showHover(node) {
    var d = node.data();
    hover.textContent = d.label + " · " + d.kind + " · " + numberFormat.format(d.flows) +
      " flows · " + formatBytes(d.bytes) + " · ";
    // Every address links to its page across runs (click the node to filter the tables).
    var link = document.createElement("a");
    link.className = "entity";
    link.href = "/entities/" + encodeURIComponent(d.ip || d.id) + "/";
    link.textContent = "open " + (d.ip || d.id);
    hover.appendChild(link);
  }

  function showEdge(edge) {
    var d = edge.data();
    var ports = d.ports.filter(function (p) { return p !== null; }).join(", ");
    var more = d.port_count > d.ports.length ? " and " + (d.port_count - d.ports.length) + " more" : "";
    hover.textContent = edge.source().data("ip") + " → " + edge.target().data("ip") +
      (ports ? " on port " + ports + more : "") + " · " + numberFormat.format(d.flows) +
      " flows (" + numberFormat.format(d.accepted) + " accepted, " +
      numberFormat.format(d.rejected) + " rejected) · " + formatBytes(d.bytes);
  }

  function setUp(payload) {
    graph = payload.graph;
    if (!graph || !graph.edges.length) {
      summary.textContent = graph ? "The graph analysis found no connections." :
        "This run has no graph result.";
      container.hidden = true;
      section.setAttribute("data-ready", "empty");
      return;
    }
    if (graph.notes.length) {
      notes.textContent = graph.notes.join(" ");
      notes.hidden = false;
    }
    cy = cytoscape({
      container: container,
      elements: elements(graph),
      style: stylesheet(),
      layout: { name: "cose", animate: false, nodeDimensionsIncludeLabels: true, padding: 24,
                nodeRepulsion: function () { return 9000; }, idealEdgeLength: function () { return 70; } },
      minZoom: 0.2, maxZoom: 4, wheelSensitivity: 0.3, boxSelectionEnabled: false
    });

    var seen = {};
    thresholds = graph.edges.map(function (e) { return e.flows; })
      .filter(function (v) { if (seen[v]) return false; seen[v] = true; return true; })
      .sort(function (a, b) { return a - b; });
    slider.max = String(thresholds.length - 1);
    slider.value = "0";
    slider.disabled = thresholds.length < 2;
    slider.addEventListener("input", applyThreshold);

    var list = document.getElementById("graph-addresses");
    graph.nodes.forEach(function (node) {
      var option = document.createElement("option");
      option.value = node.ip || node.id;
      if (node.alias) option.label = node.alias;
      list.appendChild(option);
    });

    cy.on("tap", "node", function (event) {
      var ip = event.target.data("ip");
      if (window.PortalIpFilter) window.PortalIpFilter.apply(ip);
    });
    cy.on("mouseover", "node", function (event) {
      event.target.addClass("hover");
      showHover(event.target);
    });
    cy.on("mouseout", "node", function (event) { event.target.removeClass("hover"); });
    cy.on("mouseover", "edge", function (event) { showEdge(event.target); });
    document.addEventListener("portal:ipfilter", function (event) { focusOn(event.detail.ip); });

    applyThreshold();
    var filtered = window.PortalIpFilter && window.PortalIpFilter.current();
    if (filtered) focusOn(filtered);
    section.setAttribute("data-ready", "true");
  }

  document.getElementById("graph-find").addEventListener("submit", function (event) {
    event.preventDefault();
    var value = document.getElementById("graph-address").value.trim();
    if (window.PortalIpFilter) window.PortalIpFilter.apply(value);
  });
  document.getElementById("graph-fit").addEventListener("click", function () {
    if (cy) cy.fit(cy.elements().not(".hidden"), 24);
  });

  var scheme = window.matchMedia("(prefers-color-scheme: dark)");
  if (scheme.addEventListener) {
    scheme.addEventListener("change", function () { if (cy) cy.style(stylesheet()); });
  }
  document.addEventListener("portal:themechange", function () { if (cy) cy.style(stylesheet()); });

  fetch(section.getAttribute("data-url"), {
    credentials: "same-origin", headers: { Accept: "application/json" }
  })
    .then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    })
    .then(setUp)
    .catch(function (error) {
      summary.textContent = "The graph could not be loaded (" + error.message + ").";
      section.setAttribute("data-ready", "error");
    });

  window.portalGraph = {
    cy: function () { return cy; },
    visibleEdges: function () { return cy ? cy.edges().not(".hidden").length : 0; }
  };
})();

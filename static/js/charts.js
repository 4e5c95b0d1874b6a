/* Run page charts (Apache ECharts): traffic over time, protocol × action, top talkers.
   Data comes from the run's charts.json; colours from the CSS variables, so dark mode follows. */
(function () {
  "use strict";
  var section = document.getElementById("charts");
  if (!section || !window.echarts) return;

  var status = section.querySelector(".chart-status");
  var numberFormat = new Intl.NumberFormat("en");
  var charts = {};
  var data = null;
  // The page checks the measure the run ranked its tables by.
  var initial = section.querySelector('input[name="chart-measure"]:checked');
  var measure = initial ? initial.value : "flows";

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function palette() {
    return {
      text: css("--text"), muted: css("--muted"), border: css("--border"), panel: css("--panel"),
      grid: css("--chart-grid"), accept: css("--chart-accept"), reject: css("--chart-reject"),
      other: css("--chart-other"), sent: css("--chart-sent"), received: css("--chart-received")
    };
  }

  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  // Decimal units (1 MB = 1,000,000 bytes) so the axis ticks come out round.
  function formatBytes(value) {
    var units = ["bytes", "kB", "MB", "GB", "TB", "PB"];
    var size = Math.abs(value);
    var unit = 0;
    while (size >= 1000 && unit < units.length - 1) { size /= 1000; unit += 1; }
    if (unit === 0) return numberFormat.format(value) + (value === 1 ? " byte" : " bytes");
    var digits = size >= 100 || Number.isInteger(size) ? 0 : 1;
    return (value < 0 ? "-" : "") + size.toFixed(digits) + " " + units[unit];
  }

  function formatValue(value) {
    return measure === "bytes" ? formatBytes(value) : numberFormat.format(value) + " flows";
  }

  function axisLabel(value) {
    if (value === 0) return "0";
    if (measure === "bytes") return formatBytes(value);
    if (value >= 1e6) return (value / 1e6).toFixed(1) + "M";
    if (value >= 1e3) return (value / 1e3).toFixed(value >= 1e4 ? 0 : 1) + "k";
    return numberFormat.format(value);
  }

  function percent(part, whole) {
    if (!whole || !part) return "0%";
    var value = (100 * part) / whole;
    return value < 1 ? "<1%" : value > 99 && part < whole ? ">99%" : Math.round(value) + "%";
  }

  function formatTime(value) {
    var iso = new Date(value).toISOString();
    return iso.slice(0, 10) + " " + iso.slice(11, 19).replace(/:00$/, "") + " UTC";
  }

  function formatSeconds(seconds) {
    if (!seconds) return "";
    if (seconds % 86400 === 0) return seconds / 86400 + "-day";
    if (seconds % 3600 === 0) return seconds / 3600 + "-hour";
    if (seconds % 60 === 0) return seconds / 60 + "-minute";
    return seconds + "-second";
  }

  function actionClass(action) {
    var a = String(action).toUpperCase();
    return a === "ACCEPT" ? "accept" : a === "REJECT" ? "reject" : "other";
  }

  function actionColor(action, colors) {
    return colors[actionClass(action)];
  }

  // Tooltips are our own HTML with classes: ECharts' default markup uses style attributes,
  // which the Content-Security-Policy (style-src 'self') refuses.
  function tooltipRow(cls, name, value) {
    return '<div class="tt-row"><span class="tt-dot tt-' + cls + '"></span>' +
      escapeHtml(name) + "<b>" + escapeHtml(value) + "</b></div>";
  }

  function baseOption(colors) {
    return {
      backgroundColor: "transparent",
      animation: false,  // a toggle redraws at once; nothing moves under the pointer
      textStyle: { color: colors.text, fontFamily: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif" },
      tooltip: {
        trigger: "axis",
        className: "chart-tooltip",
        backgroundColor: colors.panel,
        borderColor: colors.border,
        textStyle: { color: colors.text, fontSize: 13 },
        axisPointer: { type: "shadow", shadowStyle: { color: "rgba(128,128,128,0.12)" } }
      },
      legend: { top: 0, textStyle: { color: colors.text }, itemWidth: 14, itemHeight: 10 },
      grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true }
    };
  }

  function valueAxis(colors) {
    return {
      type: "value",
      axisLabel: { color: colors.muted, formatter: axisLabel },
      splitLine: { lineStyle: { color: colors.grid } }
    };
  }

  function categoryAxis(colors, names) {
    return {
      type: "category",
      data: names,
      axisLine: { lineStyle: { color: colors.border } },
      axisTick: { show: false },
      axisLabel: { color: colors.muted }
    };
  }

  // --- traffic over time -------------------------------------------------------------------

  function timeSeriesOption(ts, colors) {
    var option = baseOption(colors);
    option.tooltip.axisPointer = { type: "line", lineStyle: { color: colors.muted } };
    option.tooltip.formatter = function (items) {
      if (!items.length) return "";
      var html = '<div class="tt-title">' + escapeHtml(formatTime(items[0].value[0])) + "</div>";
      items.forEach(function (item) {
        html += tooltipRow(actionClass(item.seriesName), item.seriesName, formatValue(item.value[1]));
      });
      return html;
    };
    option.grid.bottom = 44;
    option.xAxis = {
      type: "time",
      axisLine: { lineStyle: { color: colors.border } },
      axisLabel: {
        color: colors.muted, hideOverlap: true,
        formatter: { year: "{yyyy}", month: "{MMM} {d}", day: "{MMM} {d}", hour: "{HH}:{mm}",
                     minute: "{HH}:{mm}", second: "{HH}:{mm}:{ss}" }
      },
      splitLine: { show: false }
    };
    option.yAxis = valueAxis(colors);
    option.useUTC = true;
    option.dataZoom = [
      { type: "inside" },
      {
        type: "slider", height: 18, bottom: 6, borderColor: colors.border,
        fillerColor: "rgba(128,128,128,0.15)", backgroundColor: "transparent",
        handleStyle: { color: colors.panel, borderColor: colors.muted },
        moveHandleStyle: { color: colors.border },
        dataBackground: { lineStyle: { color: colors.muted }, areaStyle: { color: colors.grid } },
        selectedDataBackground: { lineStyle: { color: colors.muted }, areaStyle: { color: colors.border } },
        textStyle: { color: colors.muted }, labelFormatter: function (value) {
          return formatTime(value).slice(11);
        }
      }
    ];
    option.series = ts.actions.map(function (action) {
      var values = ts.series[measure][action];
      return {
        name: action, type: "line", stack: "total", symbol: "none", sampling: "lttb",
        color: actionColor(action, colors), lineStyle: { width: 1.5 },
        areaStyle: { opacity: 0.3 }, emphasis: { focus: "series" },
        data: ts.times.map(function (time, i) { return [time, values[i]]; })
      };
    });
    return option;
  }

  function timeSeriesSummary(ts) {
    if (!ts.times.length) return "No flows with a start time.";
    var total = ts.totals[measure];
    var peak = 0;
    var peakAt = 0;
    ts.times.forEach(function (_, i) {
      var sum = ts.actions.reduce(function (acc, a) { return acc + ts.series[measure][a][i]; }, 0);
      if (sum > peak) { peak = sum; peakAt = i; }
    });
    var parts = ts.actions.map(function (a) {
      var sum = ts.series[measure][a].reduce(function (acc, v) { return acc + v; }, 0);
      return a + " " + percent(sum, total);
    });
    var bins = ts.bin_seconds ? " in " + formatSeconds(ts.bin_seconds) + " bins" : "";
    return formatValue(total) + " from " + formatTime(ts.times[0]) + " to " +
      formatTime(ts.times[ts.times.length - 1]) + bins + " (" + parts.join(", ") +
      "); the busiest bin, " + formatTime(ts.times[peakAt]) + ", had " + formatValue(peak) + ".";
  }

  // --- protocol × action -------------------------------------------------------------------

  function summaryGroups(summary) {
    var protocols = [];
    var actions = [];
    var values = {};
    var totals = {};
    summary.rows.forEach(function (row) {
      var protocol = String(row.protocol === null ? "unknown" : row.protocol);
      var action = String(row.action === null ? "unknown" : row.action);
      if (protocols.indexOf(protocol) < 0) protocols.push(protocol);
      if (actions.indexOf(action) < 0) actions.push(action);
      values[protocol + "|" + action] = (values[protocol + "|" + action] || 0) + row[measure];
      totals[protocol] = (totals[protocol] || 0) + row[measure];
    });
    protocols.sort(function (a, b) { return totals[b] - totals[a]; });
    actions.sort();
    return { protocols: protocols, actions: actions, values: values, totals: totals };
  }

  function trafficSummaryOption(summary, colors) {
    var groups = summaryGroups(summary);
    var option = baseOption(colors);
    option.tooltip.formatter = function (items) {
      if (!items.length) return "";
      var html = '<div class="tt-title">' + escapeHtml(items[0].name) + "</div>";
      items.forEach(function (item) {
        if (item.value) html += tooltipRow(actionClass(item.seriesName), item.seriesName, formatValue(item.value));
      });
      return html;
    };
    option.xAxis = categoryAxis(colors, groups.protocols);
    option.yAxis = valueAxis(colors);
    option.series = groups.actions.map(function (action) {
      return {
        name: action, type: "bar", stack: "action", barMaxWidth: 56,
        color: actionColor(action, colors), emphasis: { focus: "series" },
        data: groups.protocols.map(function (p) { return groups.values[p + "|" + action] || 0; })
      };
    });
    return option;
  }

  function trafficSummarySummary(summary) {
    var rows = summary.rows.slice().sort(function (a, b) { return b[measure] - a[measure]; });
    if (!rows.length) return "No traffic.";
    var total = rows.reduce(function (acc, row) { return acc + row[measure]; }, 0);
    var top = rows.slice(0, 3).map(function (row) {
      return row.protocol + " " + row.action + " " + formatValue(row[measure]) + " (" +
        percent(row[measure], total) + ")";
    });
    return "Largest groups: " + top.join("; ") + ". " + summary.total_groups +
      " protocol and action groups in all.";
  }

  // --- top talkers -------------------------------------------------------------------------

  // Drawn in bytes whatever the measure toggle says: the table ranks talkers by bytes, and a
  // chart must measure what its table ranks.
  function topTalkersOption(talkers, colors) {
    var option = baseOption(colors);
    var names = talkers.rows.map(function (row) { return row.ip; });
    option.tooltip.formatter = function (items) {
      if (!items.length) return "";
      var row = talkers.rows[items[0].dataIndex];
      var html = '<div class="tt-title">' + escapeHtml(row.ip) + "</div>";
      html += tooltipRow("sent", "sent", formatBytes(row.bytes_sent));
      html += tooltipRow("received", "received", formatBytes(row.bytes_received));
      html += tooltipRow("other", "flows", numberFormat.format(row.flows));
      return html + '<div class="tt-hint">Click to filter the tables</div>';
    };
    option.grid.right = 24;
    option.xAxis = valueAxis(colors);
    option.yAxis = categoryAxis(colors, names);
    option.yAxis.inverse = true;
    option.yAxis.axisLabel.fontFamily = "ui-monospace, SFMono-Regular, Menlo, monospace";
    option.yAxis.triggerEvent = true;
    option.xAxis.axisLabel = Object.assign({}, option.xAxis.axisLabel || {},
                                           { formatter: function (v) { return formatBytes(v); } });
    option.series = [
      { name: "sent", type: "bar", stack: "bytes", color: colors.sent, barMaxWidth: 18,
        data: talkers.rows.map(function (row) { return row.bytes_sent; }) },
      { name: "received", type: "bar", stack: "bytes", color: colors.received, barMaxWidth: 18,
        data: talkers.rows.map(function (row) { return row.bytes_received; }) }
    ];
    return option;
  }

  function topTalkersSummary(talkers) {
    if (!talkers.rows.length) return "No addresses.";
    var first = talkers.rows[0];
    var text = "The " + talkers.rows.length + " addresses that sent and received the most bytes" +
      (talkers.truncated ? " (of " + numberFormat.format(talkers.total_groups) + ")" : "") +
      ". First: " + first.ip + " with " + formatBytes(first.bytes) + " (" +
      formatBytes(first.bytes_sent) + " sent, " + formatBytes(first.bytes_received) +
      " received) in " + numberFormat.format(first.flows) + " flows.";
    return text + " Click a bar to filter the tables to that address.";
  }

  // --- wiring ------------------------------------------------------------------------------

  var kinds = {
    time_series: { option: timeSeriesOption, summary: timeSeriesSummary },
    traffic_summary: { option: trafficSummaryOption, summary: trafficSummarySummary },
    top_talkers: { option: topTalkersOption, summary: topTalkersSummary }
  };

  function render() {
    var colors = palette();
    Object.keys(charts).forEach(function (key) {
      var payload = data[key];
      var panel = section.querySelector('[data-chart="' + key + '"]');
      charts[key].setOption(kinds[key].option(payload, colors), { notMerge: true });
      panel.querySelector(".chart-summary").textContent = kinds[key].summary(payload);
    });
  }

  function setUp(payload) {
    data = payload;
    var shown = 0;
    section.querySelectorAll("[data-chart]").forEach(function (panel) {
      var key = panel.getAttribute("data-chart");
      var item = data[key];
      if (!item) {
        panel.querySelector(".chart-summary").textContent = "This run has no result for this chart.";
        panel.querySelector(".chart").hidden = true;
        return;
      }
      shown += 1;
      var chart = echarts.init(panel.querySelector(".chart"), null, { renderer: "canvas" });
      charts[key] = chart;
      if (item.notes && item.notes.length) {
        var notes = panel.querySelector(".chart-notes");
        notes.textContent = item.notes.join(" ");
        notes.hidden = false;
      }
    });
    if (charts.top_talkers) {
      charts.top_talkers.on("click", function (event) {
        var row = data.top_talkers.rows[event.dataIndex];
        var ip = row ? row.ip : event.value;
        if (ip && window.PortalIpFilter) window.PortalIpFilter.apply(ip);
      });
    }
    render();
    status.hidden = true;
    section.setAttribute("data-ready", String(shown));
  }

  section.querySelectorAll('input[name="chart-measure"]').forEach(function (input) {
    input.addEventListener("change", function () {
      if (!input.checked) return;
      measure = input.value;
      if (data) render();
    });
  });

  var scheme = window.matchMedia("(prefers-color-scheme: dark)");
  if (scheme.addEventListener) scheme.addEventListener("change", function () { if (data) render(); });
  document.addEventListener("portal:themechange", function () { if (data) render(); });

  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(function () {
      Object.keys(charts).forEach(function (key) { charts[key].resize(); });
    }, 100);
  });

  fetch(section.getAttribute("data-url"), {
    credentials: "same-origin", headers: { Accept: "application/json" }
  })
    .then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.json();
    })
    .then(setUp)
    .catch(function (error) {
      status.textContent = "The charts could not be loaded (" + error.message + ").";
      section.setAttribute("data-ready", "error");
    });

  window.portalCharts = { charts: charts, measure: function () { return measure; } };
})();

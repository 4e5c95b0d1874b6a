/* "Where traffic comes from": a bar chart of the busiest countries or autonomous systems,
   inbound and outbound with the rejected part; clicking a bar lists its addresses. */
(function () {
  "use strict";
  var holder = document.getElementById("geo-chart");
  var source = document.getElementById("geo-chart-data");
  if (!holder || !source || !window.echarts) return;
  var data = JSON.parse(source.textContent);
  var chart = window.echarts.init(holder);
  var numberFormat = new Intl.NumberFormat("en");

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function bytes(value) {
    var units = ["B", "kB", "MB", "GB", "TB", "PB"];
    var size = value, unit = 0;
    while (size >= 1000 && unit < units.length - 1) { size /= 1000; unit += 1; }
    return (unit ? size.toFixed(size >= 100 ? 0 : 1) : numberFormat.format(size)) + " " + units[unit];
  }

  function draw(measure) {
    var part = data[measure];
    var format = measure === "bytes" ? bytes : function (v) { return numberFormat.format(v); };
    chart.setOption({
      animation: false,
      textStyle: { color: css("--text") },
      tooltip: {
        trigger: "axis", axisPointer: { type: "shadow" },
        valueFormatter: format
      },
      legend: { top: 0, textStyle: { color: css("--text") } },
      grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
      xAxis: { type: "value", axisLabel: { formatter: format, color: css("--muted") },
               splitLine: { lineStyle: { color: css("--chart-grid") } } },
      yAxis: { type: "category", inverse: true, data: part.labels,
               axisLabel: { color: css("--text"), width: 110, overflow: "truncate" } },
      series: [
        { name: "Inbound", type: "bar", data: part.inbound, color: css("--chart-received") },
        { name: "Outbound", type: "bar", data: part.outbound, color: css("--chart-sent") },
        { name: "Rejected", type: "bar", data: part.rejected, color: css("--chart-reject") }
      ]
    }, true);
  }

  chart.on("click", function (params) {
    var key = params.name;
    if (!key) return;
    var field = data.by === "country" ? "country" : "as";
    window.location.search = "?by=" + encodeURIComponent(data.by) + "&" + field + "=" +
      encodeURIComponent(key);
  });

  document.querySelectorAll('input[name="geo-measure"]').forEach(function (input) {
    input.addEventListener("change", function () { draw(input.value); });
  });
  draw("bytes");
  window.addEventListener("resize", function () { chart.resize(); });
})();

(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var charts = [];
  var palette = { pass: "#1a7f37", info: "#0969da", warn: "#bf8700", fail: "#cf222e", muted: "#8c959f" };

  function axisRun(u, values) {
    return values.map(function (v) { return Number.isInteger(v) ? "#" + v : ""; });
  }

  function draw(el, x, series, yFormat) {
    if (!el || !window.uPlot || !x.length) return;
    var width = Math.max(el.clientWidth, 280);
    var opts = {
      width: width,
      height: 220,
      scales: { x: { time: false } },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      series: [{ label: "run", value: function (u, v) { return v == null ? "" : "#" + v; } }].concat(
        series.map(function (s) {
          return {
            label: s.label,
            stroke: s.color,
            width: 2,
            points: { show: true, size: 6, fill: s.color },
            spanGaps: true,
            value: function (u, v) { return v == null ? "—" : yFormat(v); }
          };
        })
      ),
      axes: [
        { values: axisRun, stroke: "#59636e", grid: { stroke: "#eaeef2" }, ticks: { stroke: "#d1d9e0" } },
        {
          values: function (u, vals) { return vals.map(yFormat); },
          stroke: "#59636e", size: 64, grid: { stroke: "#eaeef2" }, ticks: { stroke: "#d1d9e0" }
        }
      ]
    };
    var rows = [x].concat(series.map(function (s) { return s.values; }));
    charts.push({ el: el, plot: new uPlot(opts, rows, el) });
  }

  var h = data.history;
  draw(document.getElementById("chart-history"), h.x, [
    { label: "pass rate", color: palette.pass, values: h.pass_rate },
    { label: "coverage", color: palette.info, values: h.coverage }
  ], function (v) { return v.toFixed(v % 1 ? 1 : 0) + "%"; });

  data.scenarios.forEach(function (s, i) {
    draw(document.getElementById("chart-scenario-" + i), s.x, [
      { label: "p50", color: palette.pass, values: s.p50 },
      { label: "p95", color: palette.warn, values: s.p95 },
      { label: "p99", color: palette.fail, values: s.p99 }
    ], function (v) { return v >= 1000 ? (v / 1000).toFixed(2) + " s" : Math.round(v) + " ms"; });
  });

  function fit() {
    charts.forEach(function (c) { c.plot.setSize({ width: Math.max(c.el.clientWidth, 280), height: 220 }); });
  }
  window.addEventListener("resize", fit);
  // A printed report shows every traceback, and charts sized for the page.
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
    fit();
  });
})();

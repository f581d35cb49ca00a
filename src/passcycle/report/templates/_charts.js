(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var C = window.PasscycleCharts;
  var charts = [];
  var palette = { pass: "#1a7f37", info: "#0969da", warn: "#bf8700", fail: "#cf222e", muted: "#8c959f" };
  var axisStyle = { stroke: "#59636e", grid: { stroke: "#eaeef2" }, ticks: { stroke: "#d1d9e0" } };

  // Series of one unit by run (report/charts.py runs_chart): a trend needs two runs.
  function byRun(el, chart, colors) {
    if (!el || !window.uPlot || !C) return;
    if (chart.x.length < 2) {
      el.classList.add("empty");
      el.textContent = chart.x.length ? "one run so far: a trend needs two" : "no runs yet";
      return;
    }
    var names = Object.keys(chart.series);
    var opts = {
      width: Math.max(el.clientWidth, 280),
      height: 220,
      scales: { x: { time: false }, y: { range: C.fixed(chart.range) } },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      series: [{ label: "run", value: function (u, v) { return v == null ? "" : "#" + v; } }].concat(
        names.map(function (name, i) {
          return {
            label: name, stroke: colors[i], width: 2, spanGaps: true,
            points: { show: true, size: 6, fill: colors[i] },
            value: function (u, v) { return v == null ? "—" : C.label(v, 1, chart.unit); }
          };
        })
      ),
      axes: [
        Object.assign({ splits: C.runSplits(chart.x, 10), values: C.runValues(el, 0) }, axisStyle),
        Object.assign({ size: C.size(48), values: C.values(el, 1, "y", chart.unit) }, axisStyle)
      ]
    };
    var rows = [chart.x].concat(names.map(function (name) { return chart.series[name]; }));
    charts.push({ el: el, plot: new uPlot(opts, rows, el), height: 220 });
  }

  byRun(document.getElementById("chart-history"), data.history, [palette.pass, palette.info]);
  data.scenarios.forEach(function (s, i) {
    byRun(document.getElementById("chart-scenario-" + i), s, [palette.pass, palette.warn, palette.fail]);
  });
  data.timelines.forEach(function (t, i) {
    var el = document.getElementById("timeline-" + i);
    if (!el || !window.uPlot || !C) return;
    charts.push({ el: el, plot: C.timeline(el, t, Math.max(el.clientWidth, 280), 240), height: 240 });
  });

  function fit() {
    charts.forEach(function (c) { c.plot.setSize({ width: Math.max(c.el.clientWidth, 280), height: c.height }); });
  }
  window.addEventListener("resize", fit);
  // A printed report shows every traceback, and charts sized for the page.
  window.addEventListener("beforeprint", function () {
    document.querySelectorAll("details").forEach(function (d) { d.open = true; });
    fit();
  });
})();

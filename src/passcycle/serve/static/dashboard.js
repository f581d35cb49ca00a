/* passcycle dashboard: KPI trend charts (uPlot) and reload when a new run lands.
   Values from the history are only ever set as text, never parsed as HTML. */
(function () {
  "use strict";

  function note(box, text) {
    var el = document.createElement("div");
    el.className = "empty-chart";
    el.textContent = text;
    box.appendChild(el);
  }

  // A KPI by run, drawn from the server's chart (report/charts.py): values in the unit the
  // card shows, a range fitted to them, the target when it is near them.
  function drawCharts() {
    var source = document.getElementById("kpi-trends");
    if (!source) return;
    var kpis = JSON.parse(source.textContent);
    var charts = [];
    document.querySelectorAll(".chart[data-kpi]").forEach(function (box) {
      var kpi = kpis[box.getAttribute("data-kpi")];
      var chart = kpi && kpi.chart;
      if (!chart || chart.x.length === 0 || typeof uPlot === "undefined") {
        note(box, "not measured yet");
        return;
      }
      if (chart.x.length === 1) {
        note(box, "first run: its trend starts with the next one");
        return;
      }
      var bad = kpi.status === "fail" || kpi.regressed;
      var color = bad ? "#d64545" : kpi.status === "pass" ? "#1f9d55" : "#3b6fd8";
      var data = [chart.x, chart.y];
      var series = [
        { label: "run" },
        {
          label: kpi.name, stroke: color, width: 2, fill: color + "1a",
          value: function (u, v) { return v == null ? "—" : PasscycleCharts.label(v, 2, chart.unit); },
          points: { show: chart.x.length <= 30, size: 5 },
        },
      ];
      if (chart.target !== null) {
        data.push(chart.x.map(function () { return chart.target; }));
        series.push({ label: "target", stroke: "#9aa5b1", width: 1, dash: [4, 4], points: { show: false } });
      }
      var opts = {
        width: Math.max(box.clientWidth, 200), height: 110,
        legend: { show: false },
        cursor: { y: false, points: { size: 6 } },
        scales: { x: { time: false }, y: { range: PasscycleCharts.fixed(chart.range) } },
        axes: [
          { size: 22, gap: 2, font: "10px system-ui", stroke: "#7b8794", grid: { show: false },
            splits: PasscycleCharts.runSplits(chart.x, 6), values: PasscycleCharts.runValues(box, 0) },
          { size: PasscycleCharts.size(40), gap: 2, font: "10px system-ui", stroke: "#7b8794", grid: { stroke: "#eef2f7" },
            values: PasscycleCharts.values(box, 1, "y", chart.unit) },
        ],
        series: series,
        plugins: [PasscycleCharts.shifts(box, chart.shifts || [])],
      };
      charts.push([new uPlot(opts, data, box), box]);
      if (chart.target_off) {
        box.setAttribute("title", "target " + kpi.target + ": off this chart, far from every value");
      }
    });
    window.addEventListener("resize", function () {
      charts.forEach(function (pair) { pair[0].setSize({ width: Math.max(pair[1].clientWidth, 200), height: 110 }); });
    });
  }

  // The run page: each scenario second by second.
  function drawTimelines() {
    var source = document.getElementById("timelines");
    if (!source || typeof uPlot === "undefined") return;
    var timelines = JSON.parse(source.textContent);
    var drawn = [];
    timelines.forEach(function (t, i) {
      var box = document.getElementById("timeline-" + i);
      if (!box) return;
      drawn.push([PasscycleCharts.timeline(box, t, Math.max(box.clientWidth, 320), 220), box]);
    });
    window.addEventListener("resize", function () {
      drawn.forEach(function (pair) { pair[0].setSize({ width: Math.max(pair[1].clientWidth, 320), height: 220 }); });
    });
  }

  function watchForRuns() {
    var body = document.body;
    var current = body.getAttribute("data-version");
    var every = parseInt(body.getAttribute("data-poll"), 10);
    var live = document.getElementById("live");
    if (!every || current === null) return;
    function check() {
      fetch("/api/version", { cache: "no-store", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (v) {
          if (live) live.classList.remove("stale");
          if (v.version !== current) window.location.reload();
          else window.setTimeout(check, every);
        })
        .catch(function () {
          if (live) live.classList.add("stale");
          window.setTimeout(check, every * 2);
        });
    }
    window.setTimeout(check, every);
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    drawTimelines();
    watchForRuns();
  });
})();

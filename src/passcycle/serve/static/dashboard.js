/* passcycle dashboard: KPI trend charts (uPlot) and reload when a new run lands.
   Values from the history are only ever set as text, never parsed as HTML. */
(function () {
  "use strict";

  var UNIT_SUFFIX = { "%": "%", s: "s", B: "B", "/s": "/s" };

  function fmt(value, unit) {
    if (value === null || value === undefined) return "—";
    if (unit === "B") {
      var sizes = [["GB", 1073741824], ["MB", 1048576], ["KB", 1024]];
      for (var i = 0; i < sizes.length; i++) {
        if (Math.abs(value) >= sizes[i][1]) return (value / sizes[i][1]).toFixed(1) + sizes[i][0];
      }
      return value.toFixed(0) + "B";
    }
    if (unit === "s" && Math.abs(value) < 1) return (value * 1000).toFixed(0) + "ms";
    var digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
    return value.toFixed(digits) + (UNIT_SUFFIX[unit] || "");
  }

  function drawCharts() {
    var source = document.getElementById("kpi-trends");
    if (!source) return;
    var kpis = JSON.parse(source.textContent);
    var boxes = document.querySelectorAll(".chart[data-kpi]");
    var charts = [];
    boxes.forEach(function (box) {
      var kpi = kpis[box.getAttribute("data-kpi")];
      var points = kpi ? kpi.trend.filter(function (p) { return p[1] !== null; }) : [];
      if (points.length === 0 || typeof uPlot === "undefined") {
        var note = document.createElement("div");
        note.className = "empty-chart";
        note.textContent = "no trend yet";
        box.appendChild(note);
        return;
      }
      var xs = points.map(function (p) { return p[0]; });
      var ys = points.map(function (p) { return p[1]; });
      var bad = kpi.status === "fail" || kpi.regressed;
      var color = bad ? "#d64545" : kpi.status === "pass" ? "#1f9d55" : "#3b6fd8";
      var data = [xs, ys];
      var series = [
        { label: "run" },
        {
          label: kpi.name, stroke: color, width: 2, fill: color + "1a",
          value: function (u, v) { return fmt(v, kpi.unit); },
          points: { show: xs.length <= 30, size: 5 },
        },
      ];
      if (kpi.target_value !== null) {
        data.push(xs.map(function () { return kpi.target_value; }));
        series.push({ label: "target", stroke: "#9aa5b1", width: 1, dash: [4, 4], points: { show: false } });
      }
      var opts = {
        width: Math.max(box.clientWidth, 200), height: 110,
        legend: { show: false },
        cursor: { y: false, points: { size: 6 } },
        scales: { x: { time: false } },
        axes: [
          { size: 22, gap: 2, font: "10px system-ui", stroke: "#7b8794", grid: { show: false },
            values: function (u, vals) { return vals.map(function (v) { return Number.isInteger(v) ? "#" + v : ""; }); } },
          { size: 48, gap: 2, font: "10px system-ui", stroke: "#7b8794", grid: { stroke: "#eef2f7" },
            values: function (u, vals) { return vals.map(function (v) { return fmt(v, kpi.unit); }); } },
        ],
        series: series,
      };
      var chart = new uPlot(opts, data, box);
      charts.push([chart, box]);
    });
    window.addEventListener("resize", function () {
      charts.forEach(function (pair) { pair[0].setSize({ width: Math.max(pair[1].clientWidth, 200), height: 110 }); });
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
    watchForRuns();
  });
})();

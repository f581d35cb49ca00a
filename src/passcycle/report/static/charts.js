/* passcycle's charts, shared by the HTML report and the dashboard. uPlot draws on a canvas:
   tick labels are in the unit the page shows the values in, runs are labelled #ID only where
   a run is, and every axis's labels and range are kept on its chart's element as
   data-axis-N, so that what the canvas shows can be read back (by a test, or a person with
   devtools). The within-run chart draws a scenario second by second. */
var PasscycleCharts = (function () {
  "use strict";

  function decimals(vals) {
    var known = vals.filter(function (v) { return v != null; });
    var step = known.length > 1 ? Math.abs(known[1] - known[0]) : Math.abs(known[0] || 1);
    if (!step) return 0;
    return Math.max(0, Math.min(4, -Math.floor(Math.log10(step) + 1e-9)));
  }

  var WHOLE = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000];  // users

  function label(v, places, unit) {
    return v.toFixed(places) + (unit || "");
  }

  function keep(el, index, scale, u, out) {
    el.setAttribute("data-axis-" + index, JSON.stringify({
      scale: scale, labels: out, min: u.scales[scale].min, max: u.scales[scale].max
    }));
  }

  // Tick labels for a value axis: `unit` as the page writes it ("MB", "ms", "%", "/s").
  function values(el, index, scale, unit) {
    return function (u, vals) {
      var places = decimals(vals);
      var out = vals.map(function (v) { return v == null ? "" : label(v, places, unit); });
      keep(el, index, scale, u, out);
      return out;
    };
  }

  // Ticks for a run axis: at the runs there are (no #0 or #2 around a single run #1),
  // at most `most` of them.
  function runSplits(xs, most) {
    return function () {
      var every = Math.max(1, Math.ceil(xs.length / (most || 10)));
      return xs.filter(function (_, i) { return (xs.length - 1 - i) % every === 0; });
    };
  }

  function runValues(el, index) {
    return function (u, vals) {
      var out = vals.map(function (v) { return v == null ? "" : "#" + v; });
      keep(el, index, "x", u, out);
      return out;
    };
  }

  // Change points (validate/changepoints.py): a dashed line at the first run of each new
  // level, labelled with the change; kept on the element as data-shifts.
  function shifts(el, found) {
    el.setAttribute("data-shifts", JSON.stringify(found.map(function (s) { return s.run; })));
    return {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = "#8250df";
          ctx.fillStyle = "#8250df";
          ctx.setLineDash([3, 3]);
          ctx.lineWidth = 1;
          ctx.font = "10px system-ui";
          found.forEach(function (s) {
            var x = Math.round(u.valToPos(s.run, "x", true));
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            var text = (s.change > 0 ? "+" : "") + Math.round(s.change * 100) + "%";
            ctx.fillText(text, x + 3, u.bbox.top + 10);
          });
          ctx.restore();
        }]
      }
    };
  }

  // An axis as wide as its longest label ("200MB/h" needs more room than "95%").
  function size(least) {
    return function (u, labels) {
      var longest = 0;
      (labels || []).forEach(function (t) { longest = Math.max(longest, String(t).length); });
      return Math.max(least, Math.ceil(longest * 6.5) + 14);
    };
  }

  // A fixed range: the server fitted it to the values (and a target close to them).
  function fixed(range) {
    return function () { return range; };
  }

  // A range from 0 to a little above the largest value shown on the scale.
  function fromZero(u, min, max) {
    return [0, max > 0 ? max * 1.1 : 1];
  }

  // One scenario second by second (report/charts.py timeline_chart): response times on the
  // left axis, requests and errors a second on the right, users on a second right axis.
  function timeline(el, t, width, height) {
    var axis = { font: "10px system-ui", stroke: "#59636e", grid: { stroke: "#eaeef2" }, ticks: { stroke: "#d1d9e0" } };
    function line(label, scale, color, extra) {
      var s = { label: label, scale: scale, stroke: color, width: 1.5, spanGaps: false,
                points: { show: false } };
      for (var k in extra || {}) s[k] = extra[k];
      return s;
    }
    var unit = t.latency_unit;
    var opts = {
      width: width, height: height,
      scales: { x: { time: false }, lat: { range: fromZero }, rate: { range: fromZero }, users: { range: fromZero } },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      series: [
        { label: "second", value: function (u, v) { return v == null ? "" : Math.round(v) + "s"; } },
        line("p50", "lat", "#1a7f37", { value: function (u, v) { return v == null ? "—" : label(v, 0, unit); } }),
        line("p95", "lat", "#bf8700", { value: function (u, v) { return v == null ? "—" : label(v, 0, unit); } }),
        line("p99", "lat", "#cf222e", { value: function (u, v) { return v == null ? "—" : label(v, 0, unit); } }),
        line("requests/s", "rate", "#0969da", { dash: [5, 3], value: function (u, v) { return v == null ? "—" : label(v, 1, "/s"); } }),
        line("errors/s", "rate", "#8250df", { dash: [2, 2], value: function (u, v) { return v == null ? "—" : label(v, 1, "/s"); } }),
        line("users", "users", "#8c959f", { paths: uPlot.paths.stepped({ align: 1 }), value: function (u, v) { return v == null ? "—" : v + " users"; } })
      ],
      axes: [
        Object.assign({ values: values(el, 0, "x", "s") }, axis),
        Object.assign({ scale: "lat", size: size(48), values: values(el, 1, "lat", unit) }, axis),
        Object.assign({ scale: "rate", side: 1, size: size(48), grid: { show: false }, values: values(el, 2, "rate", "/s") }, axis),
        Object.assign({ scale: "users", side: 1, size: size(56), grid: { show: false }, incrs: WHOLE, values: values(el, 3, "users", " users") }, axis)
      ]
    };
    el.setAttribute("data-points", String(t.x.length));
    return new uPlot(opts, [t.x, t.p50, t.p95, t.p99, t.rps, t.errors, t.users], el);
  }

  return {
    values: values, runSplits: runSplits, runValues: runValues,
    fixed: fixed, fromZero: fromZero, label: label, size: size, shifts: shifts,
    timeline: timeline
  };
})();

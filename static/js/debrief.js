// The debrief: your validation curve with each branch beside it, picking an epoch on the chart,
// and live progress while the automatic player's branches are computed.
(function () {
  var root = document.getElementById("debrief");
  var embedded = document.getElementById("debrief-data");
  if (!root || !embedded) return;
  var data = JSON.parse(embedded.textContent);
  // Okabe-Ito colours (told apart by colour-blind eyes); branches are dashed, your curve solid.
  var COLOURS = ["#009e73", "#0072b2", "#cc79a7", "#56b4e9"];

  function series(points, epochs) {
    var byEpoch = {};
    points.forEach(function (p) { byEpoch[p.epoch] = p.val_acc; });
    return epochs.map(function (e) { return e in byEpoch ? byEpoch[e] : null; });
  }

  function ring(epochs, values, marked) {
    // Ringed points: the epochs a branch can still start from.
    return { hooks: { draw: [function (u) {
      var ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = "#111827";
      ctx.lineWidth = 1.5 * devicePixelRatio;
      epochs.forEach(function (e, i) {
        if (marked.indexOf(e) < 0 || values[i] === null) return;
        ctx.beginPath();
        ctx.arc(u.valToPos(e, "x", true), u.valToPos(values[i], "y", true), 7 * devicePixelRatio, 0, 2 * Math.PI);
        ctx.stroke();
      });
      ctx.restore();
    }] } };
  }

  function draw() {
    var element = document.getElementById("debrief-chart");
    if (!window.uPlot || !element) return;
    if (!data.path.length) { element.textContent = "No epoch was trained."; element.classList.add("muted"); return; }
    var last = 1;
    data.path.forEach(function (p) { last = Math.max(last, p.epoch); });
    data.branches.forEach(function (b) { b.curve.forEach(function (p) { last = Math.max(last, p.epoch); }); });
    var epochs = [];
    for (var e = 1; e <= last; e++) epochs.push(e);
    var yours = series(data.path, epochs);
    var columns = [epochs, yours];
    // Legends show the values at your last epoch until the cursor points at another one (never "--").
    var yourLast = 0;
    yours.forEach(function (v, i) { if (v !== null) yourLast = i; });
    function legendValue(digits) {
      return function (u, v, si, idx) {
        if (idx === null || idx === undefined) { idx = yourLast; v = u.data[si][idx]; }
        return v === null || v === undefined ? "–" : (digits === 0 ? String(v) : Number(v).toFixed(digits));
      };
    }
    var lines = [{ label: "epoch", value: legendValue(0) }, { label: "you (val)", stroke: "#d55e00", width: 2, points: { show: true, size: 6 },
                                      value: legendValue(3) }];
    data.branches.forEach(function (b, i) {
      if (!b.curve.length) return;
      columns.push(series(b.curve, epochs));
      lines.push({ label: "bot from " + b.from_epoch, stroke: COLOURS[i % COLOURS.length], width: 2, dash: [6, 4],
                   points: { show: true, size: 5 }, value: legendValue(3) });
    });
    element.textContent = "";
    var width = Math.max(200, element.clientWidth);
    var plot = new uPlot({
      width: width, height: 240,
      plugins: [ring(epochs, yours, data.branchable)],
      scales: { x: { time: false, range: function () { return [0.5, last + 0.5]; } }, y: { range: [0, 1] } },
      axes: [{ label: "epoch", values: function (u, vals) { return vals.map(function (v) { return Number.isInteger(v) ? v : ""; }); } },
             { label: "validation accuracy" }],
      series: lines
    }, columns, element);
    window.addEventListener("resize", function () { plot.setSize({ width: Math.max(200, element.clientWidth), height: 240 }); });

    // A click on a ringed epoch starts a branch from it (the form below does the same without a mouse).
    var form = document.getElementById("branch-form");
    plot.over.addEventListener("click", function () {
      var idx = plot.cursor.idx;
      if (!form || idx === null || idx === undefined) return;
      var epoch = epochs[idx];
      if (data.branchable.indexOf(epoch) < 0) return;
      form.querySelector("select").value = String(epoch);
      form.submit();
    });
  }

  function follow() {
    if (root.dataset.busy !== "true" || !window.EventSource) return;
    var source = new EventSource("/runs/" + data.run_id + "/debrief/events");
    source.addEventListener("progress", function (event) {
      JSON.parse(event.data).branches.forEach(function (b) {
        var row = document.querySelector('tr[data-branch="' + b.id + '"]');
        if (!row) return;
        var bar = row.querySelector(".branch-progress"), text = row.querySelector(".branch-progress-text");
        if (bar && b.total > 0) { bar.max = b.total; bar.value = b.done; }
        if (text && b.status === "running") text.textContent = b.done + " of " + b.total + " epochs";
      });
    });
    source.addEventListener("ready", function () { source.close(); window.location.reload(); });
    source.onerror = function () { source.close(); setTimeout(function () { window.location.reload(); }, 5000); };
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw); else draw();
  follow();
})();

// The training page: "Next value" previews, live progress over server-sent events, and the charts.
(function () {
  var root = document.getElementById("train");
  if (!root) return;
  var runId = root.dataset.run;

  // Next value: follows the selected Same/Up/Down radio of each knob.
  document.querySelectorAll("fieldset.knob").forEach(function (fieldset) {
    var output = fieldset.querySelector("output");
    var hintUp = fieldset.querySelector("[data-hint-up]");
    var hintDown = fieldset.querySelector("[data-hint-down]");
    function update() {
      var checked = fieldset.querySelector("input[type=radio]:checked");
      if (!checked) return;
      output.textContent = checked.dataset.next;
      if (hintUp) hintUp.hidden = checked.value !== "up";
      if (hintDown) hintDown.hidden = checked.value !== "down";
    }
    fieldset.addEventListener("change", update);
    update();
  });

  // Chart-hover counter: how often the player looked at the curves or the history before acting
  // (a count sent with the form, nothing else; it never leaves the game page).
  var hovers = document.getElementById("chart-hovers");
  if (hovers) {
    hovers.value = "0";
    document.querySelectorAll(".charts, .history").forEach(function (area) {
      function count() { hovers.value = String(Number(hovers.value) + 1); }
      area.addEventListener("mouseenter", count);
      area.addEventListener("focusin", count);
      area.addEventListener("touchstart", count, { passive: true });
    });
  }

  // Instruments: the prediction is about the next epoch, so it applies to Continue only; a
  // required instrument is required in the browser too (the server checks it either way).
  var form = document.querySelector("form.action-form");
  if (form) {
    var predict = form.querySelector("[data-instrument=prediction]");
    var reasons = form.querySelector("[data-instrument=reasons]");
    function kind() { var k = form.querySelector("input[name=kind]:checked"); return k ? k.value : "continue"; }
    function sync() {
      var trains = kind() === "continue";
      if (predict) {
        predict.hidden = !trains;
        var needed = trains && predict.dataset.required === "true";
        predict.querySelector("input[name=prediction]").required = needed;
        predict.querySelectorAll("input[name=confidence]").forEach(function (r) { r.required = needed; });
      }
    }
    form.querySelectorAll("input[name=kind]").forEach(function (r) { r.addEventListener("change", sync); });
    sync();
    if (reasons && reasons.dataset.required === "true") {
      form.addEventListener("submit", function (event) {
        var any = reasons.querySelector("input[name=reasons]:checked") || reasons.querySelector("#reason_text").value.trim();
        if (!any) {
          event.preventDefault();
          event.stopImmediatePropagation();
          var first = reasons.querySelector("input[name=reasons]");
          first.setCustomValidity("Pick at least one reason (or write one).");
          first.reportValidity();
          reasons.addEventListener("change", function () { first.setCustomValidity(""); }, { once: true });
        }
      }, true);
    }
  }

  // The finished epoch's numbers, said once by screen readers (a polite live region filled after load).
  var announce = document.getElementById("epoch-announcement");
  if (announce) setTimeout(function () { announce.textContent = announce.dataset.text; }, 500);

  // Live progress: the server streams progress, then "ready" when the epoch is done.
  if (root.dataset.busy === "true" && window.EventSource) {
    var bar = document.getElementById("epoch-progress");
    var text = document.getElementById("progress-text");
    var source = new EventSource("/runs/" + runId + "/events");
    source.addEventListener("progress", function (event) {
      var s = JSON.parse(event.data);
      if (s.total > 0) {
        bar.max = s.total; bar.value = s.done;
        text.textContent = s.done + " of " + s.total + " batches";
      }
    });
    source.addEventListener("ready", function () { source.close(); window.location.reload(); });
    source.onerror = function () {
      // The stream dropped (server restart, network): fall back to checking again shortly.
      source.close();
      setTimeout(function () { window.location.reload(); }, 3000);
    };
  }

  // Charts.
  fetch("/runs/" + runId + "/history.json", { credentials: "same-origin" })
    .then(function (response) { return response.json(); })
    .then(draw)
    .catch(function () { /* charts are a bonus: the page works without them */ });

  function markers(changes) {
    return {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = "#b45309";
          ctx.setLineDash([5, 4]);
          ctx.lineWidth = 1.5 * devicePixelRatio;
          changes.forEach(function (c) {
            var x = u.valToPos(c.epoch - 0.5, "x", true);
            ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
          });
          ctx.restore();
        }]
      }
    };
  }

  function reverted(points, key) {
    return {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = "#6b7280";
          ctx.lineWidth = 1.5 * devicePixelRatio;
          points.forEach(function (p) {
            if (p[key] === null || p[key] === undefined) return;
            var x = u.valToPos(p.epoch, "x", true), y = u.valToPos(p[key], "y", true);
            ctx.beginPath(); ctx.arc(x, y, 4 * devicePixelRatio, 0, 2 * Math.PI); ctx.stroke();
          });
          ctx.restore();
        }]
      }
    };
  }

  // Tall enough on a phone too (the plot area stays above 160 px once the axes are drawn).
  function chartHeight() { return window.matchMedia("(max-width: 600px)").matches ? 240 : 260; }
  // Train and validation differ by more than colour: Okabe-Ito blue, solid; vermillion, dashed.
  var TRAIN = "#0072b2", VAL = "#d55e00";

  function chart(element, title, data, trainKey, valKey, changes, revertedPoints, yRange, valueDigits) {
    if (!window.uPlot || !element) return;
    var width = Math.max(200, element.clientWidth);
    // The x axis also spans reverted epochs, which are drawn but are not on the current path.
    var lastEpoch = Math.max.apply(null, data.epochs.concat(revertedPoints.map(function (p) { return p.epoch; })));
    var height = chartHeight();
    // The legend shows the last epoch's values until the cursor points at another one (never "--").
    function legendValue(digits) {
      return function (u, v, si, idx) {
        if (idx === null || idx === undefined) { idx = u.data[0].length - 1; v = u.data[si][idx]; }
        return v === null || v === undefined ? "–" : (digits === 0 ? String(v) : Number(v).toFixed(digits));
      };
    }
    var opts = {
      width: width,
      height: height,
      plugins: [markers(changes), reverted(revertedPoints, valKey)],
      scales: { x: { time: false, range: function () { return [0.5, Math.max(lastEpoch + 0.5, 1.5)]; } },
                y: yRange ? { range: yRange } : {} },
      axes: [{ label: "epoch", values: function (u, vals) { return vals.map(function (v) { return Number.isInteger(v) ? v : ""; }); } },
             // Accuracy: five fixed ticks, so a short chart still reads 0, 0.25, 0.5, 0.75, 1.
             yRange ? { splits: function () { return [0, 0.25, 0.5, 0.75, 1]; } } : { space: 24 }],
      series: [
        { label: "epoch", value: legendValue(0) },
        { label: "train", stroke: TRAIN, width: 2, points: { show: true, size: 6 }, value: legendValue(valueDigits) },
        { label: "val", stroke: VAL, width: 2, dash: [6, 4], points: { show: true, size: 6 }, value: legendValue(valueDigits) }
      ]
    };
    var plot = new uPlot(opts, [data.epochs, data[trainKey], data[valKey]], element);
    element.uplot = plot;  // the page's tests read its size and ticks
    window.addEventListener("resize", function () {
      var w = Math.max(200, element.clientWidth);
      plot.setSize({ width: w, height: chartHeight() });
    });
  }

  function draw(data) {
    if (!data.epochs.length) {
      document.querySelectorAll(".chart").forEach(function (el) { el.textContent = "Curves appear after the first epoch."; el.classList.add("muted"); });
      return;
    }
    chart(document.getElementById("chart-loss"), "Loss", data, "train_loss", "val_loss", data.changes, data.reverted, null, 4);
    chart(document.getElementById("chart-acc"), "Accuracy", data, "train_acc", "val_acc", data.changes, data.reverted, [0, 1], 3);
  }
})();

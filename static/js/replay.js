// The instructor's replay: a slider steps through a run's actions; each column redraws the
// accuracy curves the player saw before that action and highlights the action in the table.
(function () {
  "use strict";
  var root = document.getElementById("replay");
  if (!root) return;
  var slider = document.getElementById("replay-step");
  var label = document.getElementById("replay-step-label");
  var columns = Array.prototype.slice.call(document.querySelectorAll(".replay-column"));

  fetch("/instructor/runs/" + root.dataset.run + "/replay.json", { credentials: "same-origin" })
    .then(function (response) { return response.json(); })
    .then(function (data) {
      var runs = [data.player].concat(data.bot ? [data.bot] : []);
      var plots = columns.map(function () { return null; });
      function describe(step) {
        // Knob values come formatted from the server (engine.formatting), never formatted here.
        if (step.kind === "initial") return "Chose the initial configuration" + (step.choice_text ? " (" + step.choice_text.replace(/^Start: /, "") + ")" : "") + ".";
        if (step.kind === "continue") {
          var moves = Object.keys(step.choices).filter(function (k) { return step.choices[k] !== "same"; })
            .map(function (k) { return k + " " + step.choices[k]; });
          return "Chose Continue" + (moves.length ? " with " + moves.join(", ") : "") + ".";
        }
        return "Chose " + step.kind + ".";
      }
      function show(index) {
        label.textContent = String(index);
        runs.forEach(function (steps, c) {
          var column = columns[c];
          if (!column) return;
          var step = steps[Math.min(index, steps.length) - 1];
          column.querySelectorAll("tr[data-step]").forEach(function (row) {
            row.classList.toggle("current", Number(row.dataset.step) === step.index);
          });
          var shown = step.shown || {};
          column.querySelector(".replay-now").textContent = "Before action " + step.index + ": epoch " + shown.epoch +
            ", validation accuracy " + (shown.val_acc == null ? "–" : shown.val_acc.toFixed(3)) + ". " + describe(step);
          var element = column.querySelector(".replay-chart");
          var s = step.series;
          if (plots[c]) { plots[c].destroy(); plots[c] = null; }
          element.textContent = "";
          if (!window.uPlot || !s.epochs.length) { element.textContent = "No epoch trained yet."; return; }
          plots[c] = new uPlot({
            width: Math.max(240, element.clientWidth), height: 240,
            scales: { x: { time: false, range: function () { return [0.5, Math.max(s.epochs[s.epochs.length - 1] + 0.5, 1.5)]; } },
                      y: { range: [0, 1] } },
            axes: [{ label: "epoch", values: function (u, vals) { return vals.map(function (v) { return Number.isInteger(v) ? v : ""; }); } }, {}],
            series: [{ label: "epoch" },
                     { label: "train acc", stroke: "#0072b2", width: 2, points: { show: true, size: 5 } },
                     { label: "val acc", stroke: "#d55e00", width: 2, dash: [6, 4], points: { show: true, size: 5 } }]
          }, [s.epochs, s.train_acc, s.val_acc], element);
        });
      }
      slider.addEventListener("input", function () { show(Number(slider.value)); });
      show(Number(slider.value));
    })
    .catch(function () { /* the tables below still tell the whole story */ });
})();

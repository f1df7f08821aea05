// The instructor dashboard's pool: live readiness while baselines compute (server-sent events).
(function () {
  var root = document.getElementById("pool");
  if (!root || root.dataset.finished === "true" || !window.EventSource) return;

  function num(value) { return value === null || value === undefined ? "-" : value.toFixed(3); }

  function statusCell(cell, d) {
    cell.textContent = "";
    if (d.status === "done") { cell.textContent = "ready"; return; }
    if (d.status === "pending") { cell.textContent = "waiting"; return; }
    if (d.status === "running") {
      cell.appendChild(document.createTextNode("computing "));
      var bar = document.createElement("progress");
      bar.max = d.total || 1; bar.value = d.done;
      cell.appendChild(bar);
      return;
    }
    var bad = document.createElement("span");
    bad.className = "bad";
    bad.textContent = "failed" + (d.error ? " (" + d.error + ")" : "");
    cell.appendChild(bad);
  }

  function botCell(cell, d) {
    cell.textContent = "";
    if (!d.bot_run_id) { cell.textContent = "–"; return; }
    var link = document.createElement("a");
    link.href = "/instructor/runs/" + d.bot_run_id + "/replay";
    link.textContent = num(d.bot);
    cell.appendChild(link);
  }

  var source = new EventSource("/instructor/pool/events");
  source.addEventListener("pool", function (event) {
    var pool = JSON.parse(event.data);
    var rows = pool.datasets.map(function (d) { return document.getElementById("pool-" + d.id); });
    if (rows.some(function (row) { return !row; })) { source.close(); window.location.reload(); return; }
    document.getElementById("pool-ready").textContent = pool.ready + " of " + pool.size;
    var bar = document.getElementById("pool-progress");
    bar.max = pool.epochs_total || 1; bar.value = pool.epochs_done; bar.hidden = pool.finished;
    var eta = document.getElementById("pool-eta");
    eta.textContent = pool.finished ? "" : pool.eta_seconds === null ? "Estimating the time left…"
      : "About " + Math.max(1, Math.ceil(pool.eta_seconds / 60)) + " min to go.";
    pool.datasets.forEach(function (d, i) {
      var row = rows[i];
      statusCell(row.querySelector("[data-cell=status]"), d);
      row.querySelector("[data-cell=default]").textContent = num(d["default"]);
      row.querySelector("[data-cell=linear]").textContent = num(d.linear);
      botCell(row.querySelector("[data-cell=bot]"), d);
    });
    if (pool.finished) source.close();
  });
  source.onerror = function () { source.close(); setTimeout(function () { window.location.reload(); }, 5000); };
})();

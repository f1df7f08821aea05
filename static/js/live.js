// The live class page: tiles and alerts re-drawn from the server's event stream; "how long ago" kept current.
(function () {
  var tiles = document.getElementById("tiles");
  var list = document.getElementById("alerts");
  if (!tiles || !list) return;
  var status = document.getElementById("alerts-status");

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) { node.append(c); });
    return node;
  }
  function srOnly(text) { return el("span", { "class": "sr-only" }, [text]); }
  function ago(iso) {
    if (!iso) return "–";
    var t = el("time", { datetime: iso, "data-ago": "" }, [""]);
    t.textContent = agoText(iso);
    return t;
  }
  function agoText(iso) {
    var s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min ago";
  }
  function num(v) { return v === null || v === undefined ? "-" : v.toFixed(3); }

  function drawAlerts(data) {
    var items = data.alerts.map(function (a) {
      var link = el("a", { href: a.replay }, ["Replay run " + a.run_id, srOnly(" of " + a.name)]);
      return el("li", { "class": "alert alert-" + a.kind, "data-kind": a.kind, "data-run": String(a.run_id),
                        "data-raised": a.raised_at || "" },
                [el("strong", {}, [a.label]), " · " + a.name + ": " + a.text + " ", link]);
    });
    list.replaceChildren.apply(list, items);
    var none = document.getElementById("no-alerts");
    if (none) none.hidden = data.alerts.length > 0;
    var n = data.alerts.length;
    status.textContent = n + " open alert" + (n === 1 ? "" : "s") + " · " + data.playing + " playing now";
  }

  function drawTiles(data) {
    var items = data.tiles.map(function (t) {
      var dl = el("dl", {}, []);
      [["Dataset", t.dataset || "–"], ["Status", t.status], ["Epoch", String(t.epoch)], ["Best", num(t.best)]]
        .forEach(function (pair) { dl.append(el("dt", {}, [pair[0]]), el("dd", {}, [pair[1]])); });
      dl.append(el("dt", {}, ["Last action"]), el("dd", {}, [(t.last_action || "–") + ", ", ago(t.last_at)]));
      var children = [el("h3", {}, [t.name + " ", el("span", { "class": "muted small" }, [t.student_id])]), dl];
      if (t.alerts.length) {
        children.push(el("ul", { "class": "tile-alerts" }, t.alerts.map(function (a) {
          return el("li", { "class": "alert-chip alert-" + a.kind }, [a.label]);
        })));
      }
      var links = el("p", { "class": "tile-links" }, []);
      if (t.replay) links.append(el("a", { href: t.replay }, ["Replay", srOnly(" of " + t.name)]), " · ");
      links.append(el("a", { href: "/instructor/live?to=" + t.student_pk + "#message" }, ["Message", srOnly(" " + t.name)]));
      children.push(links);
      return el("li", { "class": "card student-tile" + (t.alerts.length ? " has-alerts" : ""),
                        "data-student": String(t.student_pk) }, children);
    });
    tiles.replaceChildren.apply(tiles, items);
  }

  function refreshAgo() {
    document.querySelectorAll("time[data-ago]").forEach(function (t) { t.textContent = agoText(t.getAttribute("datetime")); });
  }
  refreshAgo();
  setInterval(refreshAgo, 5000);

  if (window.EventSource) {
    var source = new EventSource("/instructor/live/events");
    source.addEventListener("class", function (event) {
      var data = JSON.parse(event.data);
      drawAlerts(data);
      drawTiles(data);
      refreshAgo();
      document.body.dataset.liveUpdated = String(Date.now());
    });
  }
})();

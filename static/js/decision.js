// Decision time: milliseconds from when this page first showed the state the player acts on (a finished
// epoch, or the configure page) to the submit, sent with the form. The training wait is not in it: the
// training page only starts the clock once the epoch is done. A reload of the same state keeps the first
// time it was shown (sessionStorage, per run and action number).
(function () {
  document.querySelectorAll("form[data-decision]").forEach(function (form) {
    var field = form.querySelector("input[name=decision_ms]");
    if (!field) return;
    var key = "hq-shown:" + form.dataset.decision;
    var shown = Date.now();
    try {
      var kept = Number(window.sessionStorage.getItem(key));
      if (kept && kept <= shown) shown = kept; else window.sessionStorage.setItem(key, String(shown));
    } catch (e) { /* storage off: measured from this page load */ }
    form.addEventListener("submit", function () { field.value = String(Math.max(0, Date.now() - shown)); });
  });
})();

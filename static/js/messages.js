// The instructor's messages on the training page: new ones are appended as they are sent, without a reload.
(function () {
  var box = document.getElementById("instructor-messages");
  var list = document.getElementById("message-list");
  if (!box || !list || !window.EventSource) return;
  var after = box.dataset.after || "0";
  var source = new EventSource("/messages/events?after=" + encodeURIComponent(after));
  source.addEventListener("message", function (event) {
    var m = JSON.parse(event.data);
    if (list.querySelector('[data-message="' + m.id + '"]')) return;
    var item = document.createElement("li");
    item.dataset.message = String(m.id);
    item.textContent = m.text;
    if (!m.to_class) {
      var note = document.createElement("span");
      note.className = "muted small";
      note.textContent = " (to you)";
      item.append(" ", note);
    }
    list.append(item);
    while (list.children.length > 5) list.removeChild(list.firstElementChild);
    box.hidden = false;
  });
})();

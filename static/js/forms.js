// Forms marked data-once disable their submit button after the first submit, so a double click
// sends one request. The server refuses repeats anyway; this just keeps the page calm.
document.querySelectorAll("form[data-once]").forEach(function (form) {
  form.addEventListener("submit", function () {
    form.querySelectorAll("button[type=submit]").forEach(function (button) {
      setTimeout(function () { button.disabled = true; button.textContent = "Submitting…"; }, 0);
    });
  });
});

// Upload forms (class "upload-form"): show the "uploading" note and stop a second click from
// sending the file twice. Without JavaScript the browser's own progress indicator remains.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.classList || !form.classList.contains("upload-form")) { return; }
  if (form.classList.contains("is-uploading")) { event.preventDefault(); return; }
  form.classList.add("is-uploading");
  var button = form.querySelector("button[type=submit]");
  if (button) { button.setAttribute("aria-disabled", "true"); button.textContent = "Uploading…"; }
});

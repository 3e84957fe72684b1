// The image page: layer toggles and zoom (overlay.js), previous/next image by arrow keys, Esc back
// to the browser, "f" to write a flag note and Ctrl+Enter to send it.
import { overlay, typing } from "/static/js/overlay.js";

const view = overlay(document.getElementById("review-image"));
const note = document.getElementById("flag-note");
const flagForm = document.getElementById("flag-form");
let submitting = false;

function go(id) {
  const link = document.getElementById(id);
  if (link) window.location.href = link.href;
}

if (flagForm) {
  flagForm.addEventListener("submit", (event) => {
    if (submitting) event.preventDefault();
    submitting = true;
  });
}

document.addEventListener("keydown", (event) => {
  if (event.target === note && event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    flagForm.requestSubmit();
    event.preventDefault();
    return;
  }
  if (event.key === "Escape") {
    if (typing(event.target)) event.target.blur();
    else go("back-to-images");
    event.preventDefault();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
  let handled = true;
  if (event.shiftKey && /^Digit[1-9]$/.test(event.code)) handled = view.flipNumber(Number(event.code.slice(5)));
  else if (event.key === "ArrowLeft" || event.key === "k") go("prev-image");
  else if (event.key === "ArrowRight" || event.key === "j") go("next-image");
  else if (event.key === "h") view.toggleAll();
  else if (event.key === "z") view.toggleZoom();
  else if (event.key === "f" && note) note.focus();
  else handled = false;
  if (handled) event.preventDefault();
});

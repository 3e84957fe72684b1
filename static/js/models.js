// Model pages: a run's page reloads when its training job finishes; one key per [data-key] element
// (a link or button is clicked, a field focused): j/k older/newer run, u all runs, c compare, d predictions
// CSV, r send to review, t the train form. Keys are ignored while typing.
(function () {
  "use strict";
  document.addEventListener("concord:job-finished", () => {
    const url = new URL(window.location.href);
    url.searchParams.delete("flash"); // the "queued" notice has done its work
    window.location.replace(url.toString());
  });
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return;
    const el = document.querySelector(`[data-key="${CSS.escape(event.key)}"]`);
    if (!el) return;
    event.preventDefault();
    if (el instanceof HTMLSelectElement || el instanceof HTMLInputElement) el.focus();
    else el.click();
  });
})();

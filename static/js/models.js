// Model pages: a run's page reloads when its training job finishes; one-key links ([data-key]):
// j/k older/newer run, u all runs, c compare, d predictions CSV. Keys are ignored while typing.
(function () {
  "use strict";
  document.addEventListener("concord:job-finished", () => { window.location.reload(); });
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target instanceof HTMLInputElement || target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return;
    const link = document.querySelector(`a[data-key="${CSS.escape(event.key)}"]`);
    if (link) { event.preventDefault(); link.click(); }
  });
})();

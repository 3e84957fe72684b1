// Dataset version page: start an export without leaving the page and show its progress.
// The forms work without this script (a plain POST, then the page shows the state on reload).
(function () {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const POLL_MS = 800;

  function cellFor(form, includeImages) {
    const row = form.closest("tr");
    return row ? row.querySelectorAll(".export-cell")[includeImages === "1" ? 1 : 0] : null;
  }

  function showProgress(cell, status) {
    let bar = cell.querySelector("progress");
    let note = cell.querySelector(".export-message");
    if (!bar) {
      cell.replaceChildren();
      bar = document.createElement("progress");
      bar.className = "progress";
      bar.setAttribute("aria-label", "export progress");
      note = document.createElement("span");
      note.className = "small muted export-message";
      note.setAttribute("role", "status");
      note.setAttribute("aria-live", "polite");
      cell.append(bar, " ", note);
    }
    if (status.total > 0) {
      bar.max = status.total;
      bar.value = status.done;
      note.textContent = Math.round((100 * status.done) / status.total) + "%";
    } else {
      bar.removeAttribute("value");
      note.textContent = status.state === "queued" ? "queued…" : "starting…";
    }
  }

  function showError(cell, message) {
    const text = document.createElement("span");
    text.className = "small export-error";
    text.setAttribute("role", "alert");
    text.textContent = message;
    cell.replaceChildren(text);
    cell.dataset.state = "failed";
  }

  async function poll(cell) {
    const url = cell.dataset.statusUrl;
    for (;;) {
      let status;
      try {
        const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (!response.ok) throw new Error("status " + response.status);
        status = await response.json();
      } catch (err) {
        showError(cell, "Lost contact with the server; reload the page.");
        return;
      }
      cell.dataset.state = status.state;
      if (status.state === "done") {
        window.location.reload();
        return;
      }
      if (status.state === "failed") {
        showError(cell, status.message || "The export failed.");
        return;
      }
      if (status.state === "running" || status.state === "queued") showProgress(cell, status);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async function start(form, button) {
    const includeImages = button ? button.value : "0";
    const cell = cellFor(form, includeImages);
    if (!cell) return form.submit();
    const body = new FormData(form);
    body.set("include_images", includeImages);
    showProgress(cell, { state: "queued", done: 0, total: 0 });
    let polling = null;
    const request = fetch(form.action, {
      method: "POST", body, credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRF-Token": csrf },
    });
    // An export made inside the request reports progress while the request is still running.
    polling = setTimeout(() => poll(cell), POLL_MS);
    let response;
    try {
      response = await request;
    } catch (err) {
      clearTimeout(polling);
      showError(cell, "Could not reach the server.");
      return;
    }
    if (!response.ok) {
      clearTimeout(polling);
      let message = "The export failed (" + response.status + ").";
      try { message = (await response.json()).message || message; } catch (err) { /* not JSON */ }
      showError(cell, message);
      return;
    }
    const status = await response.json();
    if (status.state === "done") {
      clearTimeout(polling);
      window.location.reload();
    }
  }

  document.querySelectorAll("form.export-form").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      start(form, event.submitter);
    });
  });
  // Exports already running when the page loaded (another tab, a job) keep their bars moving.
  document.querySelectorAll('.export-cell[data-state="running"], .export-cell[data-state="queued"]').forEach(poll);
})();

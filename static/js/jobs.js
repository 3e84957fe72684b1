// Live job progress: every element [data-job-status-url] (templates/jobs/_progress.html) polls its
// JSON until the job is done or failed, then fires "concord:job-finished" (detail: the job) on itself.
(function () {
  "use strict";
  const FINISHED = new Set(["done", "failed", "cancelled"]);
  const POLL_MS = 1000;

  function render(el, job) {
    el.dataset.jobState = job.state;
    const state = el.querySelector(".job-state");
    if (state) {
      state.textContent = job.state;
      state.className = "badge job-state job-state-" + job.state;
    }
    const pct = Math.round(100 * job.progress);
    const percent = el.querySelector(".job-percent");
    if (percent) percent.textContent = pct + "%";
    const bar = el.querySelector("progress.job-bar");
    if (bar) {
      bar.value = job.progress;
      bar.textContent = pct + "%";
    }
    const message = el.querySelector(".job-message");
    if (message && message.textContent !== job.message) message.textContent = job.message;
    const result = el.querySelector(".job-result");
    const link = el.querySelector(".job-result-link");
    if (result && link && job.result_url) {
      link.setAttribute("href", job.result_url);
      result.hidden = false;
    }
    const cancel = document.querySelector(".job-cancel");
    if (cancel && FINISHED.has(job.state)) cancel.hidden = true;
    const attempts = document.querySelector(".job-attempts");
    if (attempts) attempts.textContent = job.attempts + " of " + job.max_attempts;
  }

  async function poll(el) {
    const url = el.dataset.jobStatusUrl;
    while (!FINISHED.has(el.dataset.jobState)) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      let job;
      try {
        const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
        if (!response.ok) {
          if (response.status === 401 || response.status === 404) return; // logged out / gone: stop
          continue;
        }
        job = await response.json();
      } catch (_err) {
        continue; // the network blinked: try again
      }
      render(el, job);
      if (FINISHED.has(job.state)) {
        el.dispatchEvent(new CustomEvent("concord:job-finished", { bubbles: true, detail: job }));
      }
    }
  }

  function start() {
    document.querySelectorAll("[data-job-status-url]").forEach((el) => { poll(el); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();

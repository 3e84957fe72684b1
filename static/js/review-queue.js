// The conflict queue: j/k or arrows move the selection, Enter (or a click) opens the conflict.
(function () {
  "use strict";
  const rows = Array.from(document.querySelectorAll("#queue .queue-row"));
  if (!rows.length) return;
  let current = 0;

  function select(index) {
    current = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach((row, i) => {
      row.classList.toggle("selected", i === current);
      row.setAttribute("aria-selected", i === current ? "true" : "false");
    });
    rows[current].scrollIntoView({ block: "nearest" });
  }

  function typing(target) {
    return target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (event.key === "j" || event.key === "ArrowDown") select(current + 1);
    else if (event.key === "k" || event.key === "ArrowUp") select(current - 1);
    else if (event.key === "Enter") {
      if (event.target instanceof HTMLAnchorElement || event.target instanceof HTMLButtonElement) return;
      window.location.href = rows[current].dataset.href;
    }
    else if (event.key === "f") { const first = document.querySelector(".facet-link"); if (first) first.focus(); }
    else return;
    event.preventDefault();
  });

  rows.forEach((row, i) => {
    row.addEventListener("click", (event) => {
      if (event.target instanceof HTMLAnchorElement) return;
      select(i);
      window.location.href = row.dataset.href;
    });
  });
  select(0);
})();

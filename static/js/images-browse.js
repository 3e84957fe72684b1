// The images browser: arrow keys move between tiles (up/down by a row of the grid), Enter opens,
// "/" jumps to the file-name search; a changed filter applies at once.
(function () {
  "use strict";
  const form = document.getElementById("browse-filters");
  if (form) {
    form.querySelectorAll("select").forEach((select) => select.addEventListener("change", () => form.submit()));
  }
  const tiles = Array.from(document.querySelectorAll("#tiles .tile"));
  let current = 0;

  function typing(target) {
    return target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function columns() {
    const top = tiles[0].getBoundingClientRect().top;
    const inRow = tiles.findIndex((t) => t.getBoundingClientRect().top > top + 2);
    return inRow === -1 ? tiles.length : inRow;
  }

  function select(index, focus) {
    current = Math.max(0, Math.min(tiles.length - 1, index));
    tiles.forEach((tile, i) => {
      tile.classList.toggle("selected", i === current);
      tile.setAttribute("tabindex", i === current ? "0" : "-1");
    });
    if (focus) tiles[current].focus();
    else tiles[current].scrollIntoView({ block: "nearest" });
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    if (event.key === "/") {
      const search = document.getElementById("browse-q");
      if (search) { search.focus(); search.select(); event.preventDefault(); }
      return;
    }
    if (!tiles.length) return;
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(), ArrowUp: -columns() };
    if (event.key in moves) {
      select(current + moves[event.key], true);
      event.preventDefault();
    } else if (event.key === "Enter" && !(event.target instanceof HTMLAnchorElement || event.target instanceof HTMLButtonElement)) {
      window.location.href = tiles[current].href;
      event.preventDefault();
    }
  });
  tiles.forEach((tile, i) => tile.addEventListener("focus", () => { if (i !== current) select(i, false); }));
  if (tiles.length) select(0, false);
})();

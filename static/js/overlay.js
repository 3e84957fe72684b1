// The image with every labeler's boxes (templates/review/_overlay.html): layer toggles, zoom to the
// boxes, and box labels that keep their size on screen. Shared by the conflict view and the image page.
export function overlay(svg) {
  const toggles = Array.from(document.querySelectorAll("input[data-layer]"));

  function showLayer(key, visible) {
    svg.querySelectorAll(`g.layer[data-layer="${key}"]`).forEach((g) => g.classList.toggle("hidden", !visible));
  }
  function flip(box) { box.checked = !box.checked; showLayer(box.dataset.layer, box.checked); }
  function flipNumber(n) {
    const box = toggles[n - 1];
    if (box) flip(box);
    return Boolean(box);
  }
  function toggleAll() {
    const show = !toggles.every((t) => t.checked);
    toggles.forEach((t) => { t.checked = show; showLayer(t.dataset.layer, show); });
  }
  toggles.forEach((box) => box.addEventListener("change", () => showLayer(box.dataset.layer, box.checked)));

  // Box labels keep their size on screen at any zoom; each layer's labels sit one line above the last's.
  function placeLabels() {
    const [, vy, vw] = svg.getAttribute("viewBox").split(" ").map(Number);
    const scale = vw / Number(svg.dataset.full.split(" ")[2]);
    const size = Number(svg.dataset.font) * scale;
    svg.querySelectorAll("text.box-label").forEach((label) => {
      const lift = Number(label.dataset.lift) * size * 1.1;
      const y = Math.max(Number(label.dataset.by) - 3 * scale - lift, vy + size + lift);
      label.setAttribute("font-size", size.toFixed(2));
      label.setAttribute("y", y.toFixed(2));
    });
  }

  // Zoom to the visible boxes (tiny pits are invisible at full frame); again to see the whole image.
  let zoomed = false;
  function toggleZoom() {
    if (zoomed) { svg.setAttribute("viewBox", svg.dataset.full); zoomed = false; placeLabels(); return; }
    const rects = Array.from(svg.querySelectorAll("g.layer:not(.hidden) rect.box"));
    if (!rects.length) return;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    rects.forEach((r) => {
      const x = +r.getAttribute("x"), y = +r.getAttribute("y");
      x0 = Math.min(x0, x); y0 = Math.min(y0, y);
      x1 = Math.max(x1, x + +r.getAttribute("width")); y1 = Math.max(y1, y + +r.getAttribute("height"));
    });
    const pad = 30, w = Math.max(x1 - x0 + 2 * pad, 120), h = Math.max(y1 - y0 + 2 * pad, 90);
    const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    svg.setAttribute("viewBox", `${cx - w / 2} ${cy - h / 2} ${w} ${h}`);
    zoomed = true;
    placeLabels();
  }
  const zoomButton = document.getElementById("zoom-toggle");
  if (zoomButton) zoomButton.addEventListener("click", toggleZoom);

  return { toggles, showLayer, flipNumber, toggleAll, toggleZoom };
}

export function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

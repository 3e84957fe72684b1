// The image with every labeler's boxes (templates/review/_overlay.html): layer toggles, zoom to the
// boxes, and box labels that keep their size on screen. Shared by the conflict view and the image page.
export function overlay(svg) {
  const toggles = Array.from(document.querySelectorAll("input[data-layer]"));

  function showLayer(key, visible) {
    svg.querySelectorAll(`g.layer[data-layer="${key}"]`).forEach((g) => g.classList.toggle("hidden", !visible));
    placeLabels();
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

  // Box labels keep their size on screen at any zoom. A label that repeats one already shown on an
  // overlapping box (labelers who agree) is left out: the boxes' colours still show who drew what.
  // The others sit just above their box, moved up a line at a time until they cover no other label.
  function placeLabels() {
    const [, vy, vw] = svg.getAttribute("viewBox").split(" ").map(Number);
    const scale = vw / Number(svg.dataset.full.split(" ")[2]);
    const size = Number(svg.dataset.font) * scale;
    const shown = [];
    const placed = [];
    svg.querySelectorAll("text.box-label").forEach((label) => {
      const box = boxOf(label.previousElementSibling);
      const visible = !label.closest("g.layer").classList.contains("hidden");
      if (!visible || shown.some((s) => s.text === label.textContent && overlap(s.box, box) > 0.3)) {
        label.setAttribute("visibility", "hidden");
        return;
      }
      label.removeAttribute("visibility");
      shown.push({ box, text: label.textContent });
      label.setAttribute("font-size", size.toFixed(2));
      const x0 = box[0], x1 = box[0] + label.getComputedTextLength();
      let y = Math.max(box[1] - 3 * scale, vy + size);
      const covers = (p) => p[0] < x1 && x0 < p[2] && p[1] < y && y - size < p[3];
      for (let step = 0; step < 20 && placed.some(covers); step += 1) y -= size * 1.1;
      placed.push([x0, y - size, x1, y]);
      label.setAttribute("y", y.toFixed(2));
    });
  }
  placeLabels();

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

function boxOf(rect) {
  return ["x", "y", "width", "height"].map((k) => Number(rect.getAttribute(k)));
}

// Intersection over union of two [x, y, w, h] boxes.
function overlap(a, b) {
  const w = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a[2] * a[3] + b[2] * b[3] - inter);
}

export function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
}

// BoxCanvas: an image with boxes, drawn, selected, moved, resized, reclassed and deleted with the
// mouse and the keyboard; zoom and pan. Reusable: the labeling page and the review page use it.
//
//   import { BoxCanvas } from "/static/js/boxcanvas.js";
//   const canvas = new BoxCanvas(hostElement, { classes: [{ id, name, colour }], readOnly: false,
//                                               onChange(boxes, info) {}, onSelect(index) {} });
//   await canvas.load(url, width, height);      // width/height: the image's natural pixel size
//   canvas.setBoxes([{ x, y, w, h, class_id }]); // image pixels, x/y the top-left corner
//   canvas.getBoxes();  canvas.setActiveClass(id);  canvas.setOverlays([{ boxes, colour, label, dashed }]);
//   canvas.select(i);  canvas.reclassSelected(id);  canvas.deleteSelected();  canvas.undo();
//   canvas.zoomBy(f);  canvas.resetView();  canvas.handleKey(event) -> true when the key was used;
//   canvas.destroy();
// onChange's info is { reason, pushed }: `pushed` says an undo step was recorded (for a page that
// keeps one undo history across boxes and its own choices).
const SVG = "http://www.w3.org/2000/svg";
const MIN_DRAG_PX = 3; // screen pixels: a shorter drag is a click
const HANDLE_PX = 9;
const MAX_ZOOM = 48;
const NUDGE_MERGE_MS = 700;

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

const round2 = (v) => Math.round(v * 100) / 100;
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

export class BoxCanvas {
  constructor(host, options = {}) {
    this.host = host;
    this.readOnly = Boolean(options.readOnly);
    this.onChange = options.onChange || (() => {});
    this.onSelect = options.onSelect || (() => {});
    this.classes = new Map();
    this.setClasses(options.classes || []);
    this.activeClass = options.activeClass ?? (options.classes && options.classes[0] ? options.classes[0].id : null);
    this.boxes = [];
    this.overlays = [];
    this.selected = -1;
    this.history = [];
    this.lastNudge = 0;
    this.width = 1;
    this.height = 1;
    this.view = { x: 0, y: 0, w: 1, h: 1 };
    this.drag = null;
    this.svg = el("svg", { class: "bc-svg", tabindex: "-1", "aria-label": "image with boxes", role: "img" });
    this.image = el("image", { x: 0, y: 0, preserveAspectRatio: "none", class: "bc-image" }, this.svg);
    this.overlayLayer = el("g", { class: "bc-overlays" }, this.svg);
    this.boxLayer = el("g", { class: "bc-boxes" }, this.svg);
    this.handleLayer = el("g", { class: "bc-handles" }, this.svg);
    this.draft = el("rect", { class: "bc-draft", visibility: "hidden" }, this.svg);
    host.appendChild(this.svg);
    this._listen();
  }

  setClasses(classes) {
    this.classes = new Map(classes.map((c) => [c.id, c]));
  }

  load(url, width, height) {
    this.width = width;
    this.height = height;
    this.image.setAttribute("width", width);
    this.image.setAttribute("height", height);
    this.boxes = [];
    this.history = [];
    this.selected = -1;
    this.resetView();
    return new Promise((resolve, reject) => {
      const done = () => { cleanup(); resolve(); };
      const fail = () => { cleanup(); reject(new Error(`could not load ${url}`)); };
      const cleanup = () => { this.image.removeEventListener("load", done); this.image.removeEventListener("error", fail); };
      this.image.addEventListener("load", done);
      this.image.addEventListener("error", fail);
      this.image.setAttribute("href", url);
    });
  }

  // ---- boxes -------------------------------------------------------------------------------
  setBoxes(boxes) {
    this.boxes = boxes.map((b) => ({ x: b.x, y: b.y, w: b.w, h: b.h, class_id: b.class_id }));
    this.history = [];
    this._select(-1);
    this._render();
    this._changed("set", false);
  }

  getBoxes() {
    return this.boxes.map((b) => ({ x: round2(b.x), y: round2(b.y), w: round2(b.w), h: round2(b.h), class_id: b.class_id }));
  }

  setActiveClass(id) { this.activeClass = id; }

  setOverlays(layers) {
    this.overlays = layers || [];
    this._renderOverlays();
  }

  select(index) { this._select(index); this._render(); }

  reclassSelected(classId) {
    if (this.readOnly || this.selected < 0 || this.boxes[this.selected].class_id === classId) return false;
    this._push();
    this.boxes[this.selected].class_id = classId;
    this._render();
    this._changed("reclass", true);
    return true;
  }

  deleteSelected() {
    if (this.readOnly || this.selected < 0) return false;
    this._push();
    this.boxes.splice(this.selected, 1);
    this._select(this.boxes.length ? Math.min(this.selected, this.boxes.length - 1) : -1);
    this._render();
    this._changed("delete", true);
    return true;
  }

  undo() {
    const previous = this.history.pop();
    if (!previous) return false;
    this.boxes = previous.boxes;
    this._select(Math.min(previous.selected, this.boxes.length - 1));
    this._render();
    this._changed("undo", false);
    return true;
  }

  // ---- view --------------------------------------------------------------------------------
  resetView() {
    this.view = { x: 0, y: 0, w: this.width, h: this.height };
    this._applyView();
  }

  zoomBy(factor, cx = this.view.x + this.view.w / 2, cy = this.view.y + this.view.h / 2) {
    const w = clamp(this.view.w / factor, this.width / MAX_ZOOM, this.width);
    const h = w * (this.height / this.width);
    const f = this.view.w / w;
    this.view = { x: cx - (cx - this.view.x) / f, y: cy - (cy - this.view.y) / f, w, h };
    this._applyView();
  }

  pan(dx, dy) {
    this.view.x += dx;
    this.view.y += dy;
    this._applyView();
  }

  get zoom() { return this.width / this.view.w; }

  // ---- keyboard ----------------------------------------------------------------------------
  handleKey(e) {
    const k = e.key;
    if (k === "Escape") {
      if (this.drag) { this._endDrag(true); return true; }
      if (this.selected >= 0) { this.select(-1); return true; }
      return false;
    }
    if (k === "Tab" && this.boxes.length) {
      const n = this.boxes.length;
      this.select(this.selected < 0 ? (e.shiftKey ? n - 1 : 0) : (this.selected + (e.shiftKey ? n - 1 : 1)) % n);
      return true;
    }
    if ((k === "Delete" || k === "Backspace") && this.selected >= 0) return this.deleteSelected();
    if (k === "+" || k === "=") { this.zoomBy(1.5); return true; }
    if (k === "-" || k === "_") { this.zoomBy(1 / 1.5); return true; }
    if (k === "0") { this.resetView(); return true; }
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (!(k in arrows)) return false;
    const [dx, dy] = arrows[k];
    if (this.selected < 0) { this.pan(dx * this.view.w * 0.1, dy * this.view.h * 0.1); return true; }
    if (this.readOnly) return true;
    const step = e.shiftKey ? 10 : 1;
    const now = performance.now();
    const pushed = now - this.lastNudge > NUDGE_MERGE_MS;
    if (pushed) this._push();
    this.lastNudge = now;
    const b = this.boxes[this.selected];
    if (e.altKey) {
      b.w = clamp(b.w + dx * step, 1, this.width - b.x);
      b.h = clamp(b.h + dy * step, 1, this.height - b.y);
    } else {
      b.x = clamp(b.x + dx * step, 0, this.width - b.w);
      b.y = clamp(b.y + dy * step, 0, this.height - b.h);
    }
    this._render();
    this._changed(e.altKey ? "resize" : "move", pushed);
    return true;
  }

  destroy() {
    this._abort.abort();
    this.svg.remove();
  }

  // ---- internals ---------------------------------------------------------------------------
  _push() {
    this.history.push({ boxes: this.boxes.map((b) => ({ ...b })), selected: this.selected });
    if (this.history.length > 200) this.history.shift();
  }

  _changed(reason, pushed) { this.onChange(this.getBoxes(), { reason, pushed }); }

  _select(index) {
    if (index === this.selected) return;
    this.selected = index;
    this.onSelect(index);
  }

  _scale() {
    const r = this.svg.getBoundingClientRect();
    return Math.min(r.width / this.view.w, r.height / this.view.h) || 1;
  }

  _applyView() {
    const v = this.view;
    v.w = clamp(v.w, this.width / MAX_ZOOM, this.width);
    v.h = v.w * (this.height / this.width);
    v.x = clamp(v.x, Math.min(0, this.width - v.w), Math.max(0, this.width - v.w));
    v.y = clamp(v.y, Math.min(0, this.height - v.h), Math.max(0, this.height - v.h));
    this.svg.setAttribute("viewBox", `${v.x} ${v.y} ${v.w} ${v.h}`);
    this.svg.classList.toggle("bc-zoomed", this._scale() > 2);
    this._render();
    this._renderOverlays();
  }

  _colour(classId) {
    const c = this.classes.get(classId);
    return c ? c.colour : "#888888";
  }

  _render() {
    this.boxLayer.replaceChildren();
    this.handleLayer.replaceChildren();
    const scale = this._scale();
    this.boxes.forEach((b, i) => {
      const colour = this._colour(b.class_id);
      const g = el("g", { class: i === this.selected ? "bc-box is-selected" : "bc-box", "data-index": i }, this.boxLayer);
      el("rect", { x: b.x, y: b.y, width: b.w, height: b.h, stroke: colour, fill: colour, class: "bc-rect" }, g);
      const c = this.classes.get(b.class_id);
      if (c) {
        const size = 12 / scale;
        const label = el("text", { x: b.x, y: Math.max(size, b.y - 3 / scale), "font-size": size, fill: colour, class: "bc-label" }, g);
        label.textContent = c.name;
      }
    });
    if (this.selected >= 0 && !this.readOnly) this._renderHandles(this.boxes[this.selected], scale);
  }

  _renderHandles(b, scale) {
    const s = HANDLE_PX / scale;
    // A small box (a pit is ~5 px) keeps its pixels visible: corner handles only, set just outside it.
    const small = Math.min(b.w, b.h) * scale < 4 * HANDLE_PX;
    const spots = small ? [[0, 0], [1, 0], [1, 1], [0, 1]]
      : [[0, 0], [0.5, 0], [1, 0], [1, 0.5], [1, 1], [0.5, 1], [0, 1], [0, 0.5]];
    for (const [hx, hy] of spots) {
      const ox = small ? (hx - 0.5) * s : 0;
      const oy = small ? (hy - 0.5) * s : 0;
      el("rect", { x: b.x + hx * b.w - s / 2 + ox, y: b.y + hy * b.h - s / 2 + oy, width: s, height: s,
        class: "bc-handle", "data-hx": hx, "data-hy": hy }, this.handleLayer);
    }
  }

  _renderOverlays() {
    this.overlayLayer.replaceChildren();
    const scale = this._scale();
    for (const layer of this.overlays) {
      for (const b of layer.boxes || []) {
        const colour = layer.colour || this._colour(b.class_id);
        const g = el("g", { class: layer.dashed ? "bc-overlay is-dashed" : "bc-overlay" }, this.overlayLayer);
        el("rect", { x: b.x, y: b.y, width: b.w, height: b.h, stroke: colour, class: "bc-overlay-rect" }, g);
        const name = layer.label || (this.classes.get(b.class_id) || {}).name;
        if (name) {
          const t = el("text", { x: b.x, y: b.y + b.h + 12 / scale, "font-size": 11 / scale, fill: colour, class: "bc-label" }, g);
          t.textContent = name;
        }
      }
    }
  }

  _point(e) {
    const pt = this.svg.createSVGPoint();
    pt.x = e.clientX;
    pt.y = e.clientY;
    const p = pt.matrixTransform(this.svg.getScreenCTM().inverse());
    return { x: p.x, y: p.y };
  }

  _listen() {
    this._abort = new AbortController();
    const opts = { signal: this._abort.signal };
    this.svg.addEventListener("pointerdown", (e) => this._down(e), opts);
    this.svg.addEventListener("pointermove", (e) => this._move(e), opts);
    this.svg.addEventListener("pointerup", (e) => this._up(e), opts);
    this.svg.addEventListener("pointercancel", () => this._endDrag(true), opts);
    this.svg.addEventListener("wheel", (e) => {
      e.preventDefault();
      const p = this._point(e);
      this.zoomBy(e.deltaY < 0 ? 1.25 : 1 / 1.25, p.x, p.y);
    }, { ...opts, passive: false });
    this.svg.addEventListener("contextmenu", (e) => e.preventDefault(), opts);
    window.addEventListener("resize", () => this._applyView(), opts);
  }

  _down(e) {
    const p = this._point(e);
    const target = e.target;
    let mode = null;
    if (e.button === 1 || e.button === 2 || (e.button === 0 && e.shiftKey)) mode = "pan";
    else if (e.button !== 0) return;
    else if (!this.readOnly && target.classList.contains("bc-handle")) mode = "resize";
    else if (target.closest && target.closest(".bc-box")) {
      this.select(Number(target.closest(".bc-box").dataset.index));
      mode = this.readOnly ? null : "move";
    } else if (!this.readOnly && this.activeClass !== null && this.activeClass !== undefined) mode = "draw";
    else { this.select(-1); return; }
    if (!mode) return;
    e.preventDefault();
    this.svg.setPointerCapture(e.pointerId);
    const box = this.selected >= 0 ? { ...this.boxes[this.selected] } : null;
    this.drag = { mode, start: p, client: { x: e.clientX, y: e.clientY }, box, pushed: false,
      hx: Number(target.dataset.hx), hy: Number(target.dataset.hy), view: { ...this.view } };
  }

  _move(e) {
    const d = this.drag;
    if (!d) return;
    const p = this._point(e);
    const moved = Math.hypot(e.clientX - d.client.x, e.clientY - d.client.y) >= MIN_DRAG_PX;
    if (!moved && !d.active) return;
    d.active = true;
    if (d.mode === "pan") {
      const scale = this._scale();
      this.view = { ...d.view, x: d.view.x - (e.clientX - d.client.x) / scale, y: d.view.y - (e.clientY - d.client.y) / scale };
      this._applyView();
      return;
    }
    if (d.mode === "draw") {
      const r = this._rectFrom(d.start, p);
      for (const [k, v] of Object.entries({ x: r.x, y: r.y, width: r.w, height: r.h })) this.draft.setAttribute(k, v);
      this.draft.setAttribute("stroke", this._colour(this.activeClass));
      this.draft.setAttribute("visibility", "visible");
      return;
    }
    if (!d.pushed) { this._push(); d.pushed = true; }
    const b = this.boxes[this.selected];
    if (d.mode === "move") {
      b.x = clamp(d.box.x + p.x - d.start.x, 0, this.width - b.w);
      b.y = clamp(d.box.y + p.y - d.start.y, 0, this.height - b.h);
    } else {
      const x1 = d.hx === 0 ? clamp(p.x, 0, this.width) : d.box.x;
      const x2 = d.hx === 1 ? clamp(p.x, 0, this.width) : d.box.x + d.box.w;
      const y1 = d.hy === 0 ? clamp(p.y, 0, this.height) : d.box.y;
      const y2 = d.hy === 1 ? clamp(p.y, 0, this.height) : d.box.y + d.box.h;
      Object.assign(b, { x: Math.min(x1, x2), y: Math.min(y1, y2), w: Math.max(Math.abs(x2 - x1), 0.5), h: Math.max(Math.abs(y2 - y1), 0.5) });
    }
    this._render();
  }

  _up(e) {
    const d = this.drag;
    if (!d) return;
    if (d.mode === "draw" && d.active) {
      const r = this._rectFrom(d.start, this._point(e));
      if (r.w >= 0.5 && r.h >= 0.5) {
        this._push();
        this.boxes.push({ ...r, class_id: this.activeClass });
        this._select(this.boxes.length - 1);
        this._render();
        this._changed("draw", true);
      }
    } else if (d.mode === "draw") {
      this.select(-1);
    } else if ((d.mode === "move" || d.mode === "resize") && d.pushed) {
      this._changed(d.mode, true);
    }
    this._endDrag(false);
  }

  _endDrag(cancel) {
    const d = this.drag;
    this.drag = null;
    this.draft.setAttribute("visibility", "hidden");
    if (cancel && d && d.pushed) this.undo();
  }

  _rectFrom(a, b) {
    const x1 = clamp(Math.min(a.x, b.x), 0, this.width);
    const y1 = clamp(Math.min(a.y, b.y), 0, this.height);
    const x2 = clamp(Math.max(a.x, b.x), 0, this.width);
    const y2 = clamp(Math.max(a.y, b.y), 0, this.height);
    return { x: x1, y: y1, w: x2 - x1, h: y2 - y1 };
  }
}

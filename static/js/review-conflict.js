// The conflict view: layer toggles, zoom, and every decision by one key.
// Decisions are ordinary form submits (POST → 303 to the next conflict); keys only press the buttons.
import { overlay, typing } from "/static/js/overlay.js";

const form = document.getElementById("decide-form");
const bookForm = document.getElementById("book-form");
const svg = document.getElementById("review-image");
const data = JSON.parse(document.getElementById("review-data").dataset.json);
const reason = document.getElementById("reason");
let mode = null;
let canvas = null;
let submitting = false;

const view = overlay(svg);
const toggleZoom = view.toggleZoom;

// Modes: edit, group, send, book each open their panel; Enter submits the open one.
const modeButtons = Array.from(document.querySelectorAll("[data-mode]"));
function setMode(next) {
  mode = mode === next ? null : next;
  document.querySelectorAll(".mode-panel").forEach((panel) => {
    panel.hidden = !mode || !panel.dataset.modes.split(" ").includes(mode);
  });
  modeButtons.forEach((b) => b.setAttribute("aria-pressed", b.dataset.mode === mode ? "true" : "false"));
  document.body.classList.toggle("mode-active", Boolean(mode));
  if (mode === "edit") openEditor();
  else closeEditor();
  if (mode === "book") document.getElementById("book-class").focus();
}
modeButtons.forEach((b) => b.addEventListener("click", () => setMode(b.dataset.mode)));

function pickClass(key) {
  if (mode === "book") {
    const cls = data.classes.find((c) => c.hotkey === key);
    if (!cls) return false;
    document.getElementById("book-class").value = String(cls.id);
    return true;
  }
  const radio = form.querySelector(`input[name="label_class_id"][data-hotkey="${CSS.escape(key)}"]`);
  if (!radio) return false;
  radio.checked = true;
  if (canvas) {
    canvas.setActiveClass(Number(radio.value));
    if (canvas.selected >= 0) canvas.reclassSelected(Number(radio.value));  // like the labeling page
  }
  return true;
}

function toggleLabeler(index) {
  const box = form.querySelector(`input[name="labeler_ids"][data-index="${index}"]`);
  if (!box) return false;
  box.checked = !box.checked;
  return true;
}

function submitMode() {
  if (mode === "book") { bookForm.requestSubmit(); return; }
  const button = form.querySelector(`[data-submit-mode="${mode}"]`);
  if (button) form.requestSubmit(button);
}

function press(key) {
  const button = form.querySelector(`button[data-key="${CSS.escape(key)}"]:not([data-nokey])`);
  if (!button || button.disabled) return false;
  if (button.dataset.mode) setMode(button.dataset.mode);
  else form.requestSubmit(button);
  return true;
}

function go(id) {
  const link = document.getElementById(id);
  if (link) window.location.href = link.href;
}

// The box editor is the labeling page's BoxCanvas, loaded when first needed.
async function openEditor() {
  const host = document.getElementById("box-editor");
  const hint = document.getElementById("editor-hint");
  if (canvas) { host.hidden = false; svg.classList.add("hidden"); return; }
  try {
    const { BoxCanvas } = await import("/static/js/boxcanvas.js");
    if (mode !== "edit") return;
    if (!document.querySelector('link[href="/static/css/labeling.css"]')) {
      const link = document.createElement("link");
      link.rel = "stylesheet"; link.href = "/static/css/labeling.css";
      document.head.appendChild(link);
    }
    host.hidden = false;
    canvas = new BoxCanvas(host, { classes: data.classes, readOnly: false });
    const image = svg.querySelector("image");
    await canvas.load(image.getAttribute("href"), data.width, data.height);
    canvas.setOverlays(data.layers.map((l) => ({ boxes: l.boxes, colour: l.colour, label: l.label, dashed: Boolean(l.dashed) })));
    canvas.setBoxes(data.final);
    const checked = form.querySelector('input[name="label_class_id"]:checked');
    if (checked) canvas.setActiveClass(Number(checked.value));
    svg.classList.add("hidden");
  } catch (error) {
    canvas = null;
    host.hidden = true;
    if (hint) hint.textContent = "The box editor is not available here; saving keeps the proposed boxes and sets the class.";
  }
}
function closeEditor() {
  const host = document.getElementById("box-editor");
  host.hidden = true;
  svg.classList.remove("hidden");
}

form.addEventListener("submit", (event) => {
  if (submitting) { event.preventDefault(); return; }
  const choice = event.submitter ? event.submitter.value : "";
  if (choice === "edit" && canvas) document.getElementById("final-boxes").value = JSON.stringify(canvas.getBoxes());
  submitting = true;
});
bookForm.addEventListener("submit", () => { submitting = true; });

document.addEventListener("keydown", (event) => {
  if (submitting) return;
  if (mode === "edit" && canvas && !typing(event.target) && canvas.handleKey(event)) return;
  if (event.key === "Escape") {
    if (typing(event.target)) event.target.blur();
    else if (mode) setMode(mode);
    else go("back-to-queue");
    event.preventDefault();
    return;
  }
  if (event.key === "Enter" && mode && !event.shiftKey && (!typing(event.target) || event.target === reason)) {
    event.preventDefault();
    submitMode();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
  const key = event.key;
  let handled = false;
  if (event.shiftKey && /^Digit[1-9]$/.test(event.code)) handled = view.flipNumber(Number(event.code.slice(5))); else if (mode === "send" && /^[1-9]$/.test(key)) handled = toggleLabeler(key);
  else if ((mode === "edit" || mode === "group" || mode === "book") && pickClass(key)) handled = true;
  else if (key === "r") { reason.focus(); handled = true; }
  else if (key === "h") { view.toggleAll(); handled = true; }
  else if (key === "z") { toggleZoom(); handled = true; }
  else if (key === "j" || key === "ArrowDown" || key === "ArrowRight") { go("next-conflict"); handled = true; }
  else if (key === "k" || key === "ArrowUp" || key === "ArrowLeft") { go("prev-conflict"); handled = true; }
  else if (!mode) handled = press(key);
  else {
    const other = modeButtons.find((b) => b.dataset.key === key);
    if (other) { setMode(other.dataset.mode); handled = true; }
  }
  if (handled) event.preventDefault();
});

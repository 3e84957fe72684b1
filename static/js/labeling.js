// The labeling page: one key for the class, drag to draw, Enter to submit, and the next image is
// already loaded. Answers go through the JSON API with an idempotency key; the draft of every
// assignment is kept in localStorage until the server has it (a lost session or a refused class
// never loses work).
import { BoxCanvas } from "/static/js/boxcanvas.js";

const boot = JSON.parse(document.getElementById("label-boot").textContent);
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);
const ui = {
  progress: $("progress-line"), answerLine: $("answer-line"), note: $("return-note"), noteText: $("return-note-text"), host: $("canvas-host"),
  empty: $("stage-empty"), toast: $("toast"), classList: $("class-list"), boxList: $("box-list"),
  boxCount: $("box-count"), boxesSection: $("boxes-section"), unsure: $("unsure"), comment: $("comment"),
  submit: $("submit-button"), skip: $("skip-button"), book: $("defect-book"), bookButton: $("book-button"),
  bookClose: $("book-close"), quick: $("quick-mode"), relabel: $("relabel-note"),
};
const classes = new Map(boot.classes.map((c) => [c.id, c]));
const keyToClass = new Map();
for (const c of boot.classes) for (const k of c.keys) keyToClass.set(k, c.id);
const drawsBoxes = boot.taskType !== "classification";
const tzOffset = -new Date().getTimezoneOffset();
const firstDefect = boot.classes.find((c) => c.id !== boot.okClassId);

// back: the assignments reopened with Backspace (latest first), resume: what was on screen before.
const state = { current: null, next: null, classId: null, classAuto: false, key: null, startedAt: 0,
  history: [], busy: false, loading: false, retired: new Set(), back: [], resume: null };

const canvas = new BoxCanvas(ui.host, {
  classes: boot.classes,
  activeClass: drawsBoxes && firstDefect ? firstDefect.id : null,
  onChange: (boxes, info) => {
    if (info.pushed) state.history.push({ kind: "boxes" });
    if (info.reason === "draw" && (state.classId === null || state.classId === boot.okClassId)) {
      setClass(boxes[boxes.length - 1].class_id, { auto: true });
    }
    if (info.reason === "reclass" && state.classAuto && boxes.length === 1) setClass(boxes[0].class_id, { auto: true, record: false });
    renderBoxes(boxes);
    saveDraft();
  },
  onSelect: () => renderBoxes(canvas.getBoxes()),
});
if (!drawsBoxes) ui.boxesSection.hidden = true;

// ---- talking to the server ---------------------------------------------------------------
async function api(path, body) {
  let response;
  try {
    response = await fetch(boot.api + path, {
      method: "POST", credentials: "same-origin", body: JSON.stringify(body || {}),
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
    });
  } catch {
    throw Object.assign(new Error("The server cannot be reached. Your answer is kept; press Enter to try again."), { status: 0 });
  }
  let data = null;
  try { data = await response.json(); } catch { data = null; }
  if (!response.ok) {
    const error = new Error((data && data.message) || `The server answered ${response.status}.`);
    throw Object.assign(error, { status: response.status, data });
  }
  return data;
}

async function fetchNext(exclude) {
  const data = await api("/assignments/next", { exclude, tz_offset_minutes: tzOffset });
  showProgress(data.progress);
  return data.assignment;
}

function preload(assignment) {
  if (!assignment) return;
  const img = new Image();
  img.src = assignment.image.url;
}

async function prefetch() {
  if (!state.current) return;
  try {
    state.next = await fetchNext([state.current.id]);
    preload(state.next);
  } catch (err) {
    state.next = null;
    if (err.status === 401) sessionLost();
  }
}

// ---- showing an assignment ---------------------------------------------------------------
async function show(assignment) {
  state.loading = true;
  try {
    await present(assignment);
  } finally {
    state.loading = false;
  }
}

async function present(assignment) {
  delete ui.host.dataset.imageId;
  state.current = assignment;
  state.history = [];
  state.key = newKey();
  state.startedAt = performance.now();
  ui.empty.hidden = Boolean(assignment);
  ui.host.hidden = !assignment;
  ui.note.hidden = !(assignment && assignment.note) || state.back.length > 0;
  ui.relabel.hidden = state.back.length === 0;
  focusImage();
  if (!assignment) { setClass(null, { record: false }); renderBoxes([]); return; }
  ui.noteText.textContent = assignment.note || "";
  await canvas.load(assignment.image.url, assignment.image.width, assignment.image.height).catch(() => {
    toast("The image could not be loaded. Press Esc to skip it.");
  });
  const draft = loadDraft(assignment.id);
  const start = draft || assignment.previous || { label_class_id: null, boxes: [], unsure: false, comment: "" };
  canvas.setBoxes(start.boxes || []);
  state.history = [];
  setClass(start.label_class_id ?? null, { record: false, auto: Boolean(draft && draft.classAuto) });
  ui.unsure.checked = Boolean(start.unsure);
  ui.comment.value = start.comment || "";
  renderBoxes(canvas.getBoxes());
  // The minimum viewing time counts from now, not from when a prefetched image was handed out.
  await api(`/assignments/${assignment.id}/shown`).catch(() => {});
  ui.host.dataset.imageId = String(assignment.image.id); // ready: tests and tools wait for this
  if (draft && (draft.label_class_id !== null || (draft.boxes || []).length || draft.comment)) {
    toast("Your unsaved answer for this image was restored.", "info");
  }
}

// Keys go to the image, never into the comment box, once an answer is sent or a new image is shown.
function focusImage() {
  if (document.activeElement === ui.comment) ui.comment.blur();
  ui.host.focus({ preventScroll: true });
}

async function advance() {
  if (state.back.length) { await leaveRelabel(); return; }
  const upcoming = state.next;
  state.next = null;
  if (upcoming) {
    await show(upcoming);
  } else {
    await show(await fetchNext([]));
  }
  prefetch();
}

function showProgress(p) {
  if (!p) return;
  ui.progress.textContent = `${p.done_today.toLocaleString()} done today · ${p.remaining.toLocaleString()} waiting for you`;
}

// ---- the answer --------------------------------------------------------------------------
function setClass(id, { auto = false, record = true } = {}) {
  if (record && id !== state.classId) state.history.push({ kind: "class", prev: state.classId, auto: state.classAuto });
  state.classId = id;
  state.classAuto = auto;
  for (const button of ui.classList.querySelectorAll(".class-button")) {
    const cid = Number(button.dataset.classId);
    button.setAttribute("aria-checked", String(cid === id));
    button.disabled = state.retired.has(cid);
  }
  if (drawsBoxes && id !== null && id !== boot.okClassId) canvas.setActiveClass(id);
  renderAnswer(canvas.getBoxes());
  saveDraft();
}

function chooseClass(id) {
  if (state.retired.has(id)) return;
  if (canvas.selected >= 0 && id !== boot.okClassId) { canvas.reclassSelected(id); return; }
  setClass(id);
  if (ui.quick.checked && canvas.getBoxes().length === 0 && !boxRuleProblem(id, [])) submit();
}

// What the class's box rule still wants of this answer (the server refuses the same), or null.
function boxRuleProblem(classId, boxes) {
  if (!drawsBoxes) return null;
  const c = classes.get(classId);
  if (c && c.boxRule === "none" && boxes.length) return `${c.name} takes no boxes: delete them (Del) or pick another class.`;
  const stray = boxes.map((b) => classes.get(b.class_id)).find((bc) => bc && bc.boxRule === "none");
  if (stray) return `${stray.name} is never drawn as a box: delete that box (Del).`;
  if (c && c.boxRule === "required" && !boxes.some((b) => b.class_id === c.id)) {
    return `${c.name} needs at least one ${c.name} box: drag on the image to draw it.`;
  }
  return null;
}

function renderAnswer(boxes) {
  const c = classes.get(state.classId);
  ui.answerLine.replaceChildren();
  if (!state.current) return;
  const name = document.createElement("strong");
  name.textContent = c ? c.name : "no class yet";
  ui.answerLine.append("· ", name, drawsBoxes ? ` · ${boxes.length} box${boxes.length === 1 ? "" : "es"}` : "");
  if (ui.unsure.checked) ui.answerLine.append(" · unsure");
  const problem = boxRuleProblem(state.classId, boxes);
  if (problem) {
    const missing = document.createElement("span");
    missing.className = "answer-missing";
    missing.id = "answer-missing";
    missing.textContent = problem;
    ui.answerLine.append(" · ", missing);
  }
}

function renderBoxes(boxes) {
  renderAnswer(boxes);
  ui.boxCount.textContent = String(boxes.length);
  ui.boxList.replaceChildren();
  boxes.forEach((b, i) => {
    const li = document.createElement("li");
    li.className = i === canvas.selected ? "is-selected" : "";
    const button = document.createElement("button");
    button.type = "button";
    button.className = "box-item";
    const c = classes.get(b.class_id);
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.setProperty("background", c ? c.colour : "#888");
    button.append(swatch, `${c ? c.name : "?"} · ${Math.round(b.w)}×${Math.round(b.h)} px`);
    button.addEventListener("click", () => canvas.select(i));
    li.appendChild(button);
    ui.boxList.appendChild(li);
  });
}

function answer() {
  return { label_class_id: state.classId, boxes: canvas.getBoxes(), unsure: ui.unsure.checked,
    comment: ui.comment.value.trim(), classAuto: state.classAuto };
}

function undo() {
  const step = state.history.pop();
  if (!step) return;
  if (step.kind === "boxes") canvas.undo();
  else if (step.kind === "class") setClass(step.prev, { record: false, auto: step.auto });
  else if (step.kind === "unsure") ui.unsure.checked = step.prev;
  renderAnswer(canvas.getBoxes());
  saveDraft();
}

async function submit() {
  const a = state.current;
  if (!a || state.busy) return;
  const data = answer();
  if (data.label_class_id === null && boot.taskType !== "boxes") { toast("Pick the image's class first (1–9)."); return; }
  if (data.label_class_id === boot.okClassId && data.boxes.length) {
    toast("An OK image has no boxes: delete them (Del) or pick a defect class."); return;
  }
  const problem = boxRuleProblem(data.label_class_id, data.boxes);
  if (problem) { toast(problem); return; }
  focusImage();
  await finish(a, `/assignments/${a.id}/annotation?tz_offset_minutes=${tzOffset}`, {
    label_class_id: data.label_class_id, boxes: data.boxes, unsure: data.unsure, comment: data.comment,
    duration_ms: Math.round(performance.now() - state.startedAt), idempotency_key: state.key,
    supersedes_id: a.supersedes_id, defect_book_version: boot.defectBookVersion,
  });
}

async function skip() {
  const a = state.current;
  if (state.back.length && !state.busy) { await leaveRelabel(); return; } // a done answer is not skipped
  if (!a || state.busy) return;
  await finish(a, `/assignments/${a.id}/skip?tz_offset_minutes=${tzOffset}`);
}

// Send the answer (or the skip); on success the next image, already loaded, takes its place.
async function finish(a, path, body) {
  state.busy = true;
  ui.submit.disabled = true;
  try {
    const done = await api(path, body);
    clearDraft(a.id);
    showProgress(done.progress);
    hideToast();
    await advance();
  } catch (err) {
    failed(err);
  } finally {
    state.busy = false;
    ui.submit.disabled = false;
  }
}

// Backspace: reopen my last answer (then the one before, a few back) to relabel it; the relabel
// supersedes it on the server. Enter saves, Esc returns to the image I was on.
async function goBack() {
  if (state.busy || state.loading) return;
  state.busy = true;
  try {
    const previous = await api("/assignments/previous", { exclude: state.back });
    if (!previous) {
      toast(state.back.length ? "No earlier answer can be reopened here." : "You have no answer here to reopen yet.", "info");
      return;
    }
    if (!state.back.length) { saveDraft(); state.resume = state.current; }
    state.back.push(previous.id);
    await show(previous);
  } catch (err) {
    failed(err);
  } finally {
    state.busy = false;
  }
}

async function leaveRelabel() {
  const resume = state.resume;
  for (const id of state.back) clearDraft(id); // an unsaved relabel is dropped: the answer stays as it was
  state.back = [];
  state.resume = null;
  if (resume) await show(resume);
  else { await show(state.next || await fetchNext([])); state.next = null; prefetch(); }
}

function failed(err) {
  saveDraft();
  if (err.status === 401) { sessionLost(); return; }
  if (err.data && err.data.field === "shown_at" && err.data.detail) {
    const wait = Math.max(0.1, err.data.detail.wait_ms / 1000).toFixed(1);
    toast(`Take a moment to look at the image: you can answer in ${wait} s.`, "info");
    return;
  }
  const detail = err.data && err.data.detail;
  if (detail && detail.retired_class_id) {
    state.retired.add(detail.retired_class_id);
    setClass(state.classId === detail.retired_class_id ? null : state.classId, { record: false });
  }
  toast(err.message);
}

function sessionLost() {
  saveDraft();
  const next = encodeURIComponent(location.pathname);
  toast("Your session has ended. Your answer is kept on this computer — ", "warn", { href: `/login?next=${next}`, text: "log in again" });
}

// ---- drafts ------------------------------------------------------------------------------
const draftKey = (id) => `concord:draft:${boot.user}:${boot.project}:${id}`;
function saveDraft() {
  if (!state.current || state.loading) return;
  try { localStorage.setItem(draftKey(state.current.id), JSON.stringify(answer())); } catch { /* storage full or off */ }
}
function loadDraft(id) {
  try { return JSON.parse(localStorage.getItem(draftKey(id)) || "null"); } catch { return null; }
}
function clearDraft(id) {
  try { localStorage.removeItem(draftKey(id)); } catch { /* ignore */ }
}
function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

// ---- messages ----------------------------------------------------------------------------
function toast(message, kind = "error", link = null) {
  ui.toast.className = `toast ${kind}`;
  ui.toast.textContent = message;
  if (link) {
    const a = document.createElement("a");
    a.href = link.href;
    a.textContent = link.text;
    ui.toast.appendChild(a);
  }
  ui.toast.hidden = false;
  clearTimeout(toast.timer);
  if (kind === "info") toast.timer = setTimeout(hideToast, 2500);
}
function hideToast() { ui.toast.hidden = true; }

// ---- keyboard ----------------------------------------------------------------------------
function openBook() { if (!ui.book.open) ui.book.showModal(); }

// Held keys repeat; only moving, resizing and zooming may (a held Space or Enter never answers).
const REPEATABLE = new Set(["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "+", "-", "="]);

document.addEventListener("keydown", (e) => {
  if (e.repeat && !REPEATABLE.has(e.key) && (e.target !== ui.comment || e.key === "Enter")) { e.preventDefault(); return; }
  if (ui.book.open) {
    if (e.key === "?" || e.key === "F1") { e.preventDefault(); ui.book.close(); }
    return; // the dialog closes itself on Esc
  }
  if (e.target === ui.comment) {
    if (e.key === "Enter") { e.preventDefault(); submit(); }
    else if (e.key === "Escape") { e.preventDefault(); ui.comment.blur(); }
    return;
  }
  if (e.target instanceof HTMLInputElement && e.target.type === "text") return;
  if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") { e.preventDefault(); undo(); return; }
  if (e.ctrlKey || e.metaKey) return;
  if (canvas.handleKey(e)) { e.preventDefault(); return; }
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  if (key === "Enter") { e.preventDefault(); submit(); return; }
  if (key === "Escape") { e.preventDefault(); skip(); return; }
  if (key === "Backspace") { e.preventDefault(); goBack(); return; }
  if (key === "?" || key === "F1") { e.preventDefault(); openBook(); return; }
  if (key === " ") {
    e.preventDefault();
    if (boot.okClassId !== null && canvas.getBoxes().length === 0) { setClass(boot.okClassId); submit(); }
    else if (canvas.getBoxes().length) toast("An OK image has no boxes: delete them (Del) or pick a defect class.");
    return;
  }
  if (keyToClass.has(key)) { e.preventDefault(); chooseClass(keyToClass.get(key)); return; }
  if (key === "u") { e.preventDefault(); state.history.push({ kind: "unsure", prev: ui.unsure.checked }); ui.unsure.checked = !ui.unsure.checked; renderAnswer(canvas.getBoxes()); if (ui.unsure.checked) ui.comment.focus(); saveDraft(); return; }
  if (key === "c") { e.preventDefault(); ui.comment.focus(); return; }
  if (key === "q") { e.preventDefault(); ui.quick.checked = !ui.quick.checked; }
});

ui.classList.addEventListener("click", (e) => {
  const button = e.target.closest(".class-button");
  if (button) chooseClass(Number(button.dataset.classId));
});
ui.submit.addEventListener("click", submit);
ui.skip.addEventListener("click", skip);
ui.unsure.addEventListener("change", () => { renderAnswer(canvas.getBoxes()); saveDraft(); });
ui.comment.addEventListener("input", saveDraft);
ui.bookButton.addEventListener("click", openBook);
ui.bookClose.addEventListener("click", () => ui.book.close());
ui.book.addEventListener("click", (e) => { if (e.target === ui.book) ui.book.close(); });

// ---- start -------------------------------------------------------------------------------
(async () => {
  try {
    await show(await fetchNext([]));
    prefetch();
  } catch (err) {
    failed(err);
  }
})();

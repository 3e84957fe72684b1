// The upload page: files go one request each (3 at a time) into one batch, with a progress bar and
// a result per file. Without JavaScript the form posts normally and the server lists the results.
const form = document.getElementById("upload-form");
const input = document.getElementById("file-input");
const dropzone = document.getElementById("dropzone");
const rows = document.getElementById("upload-rows");
const results = document.getElementById("upload-results");
const summary = document.getElementById("upload-summary");
const button = document.getElementById("upload-button");
const countEl = document.getElementById("image-count");
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const project = form.dataset.project;
const maxBytes = Number(form.dataset.maxBytes);
const PARALLEL = 3;
const LABELS = { stored: "stored", duplicate: "duplicate", refused: "refused" };

function human(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1048576) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

function cell(tr, className, text) {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (text !== undefined) td.textContent = text;
  tr.appendChild(td);
  return td;
}

function addRow(file) {
  const tr = document.createElement("tr");
  cell(tr, "file-name", file.name);
  cell(tr, "num", human(file.size));
  const bar = document.createElement("progress");
  bar.max = 100;
  bar.value = 0;
  cell(tr, "progress-col").appendChild(bar);
  const result = cell(tr, "");
  result.textContent = "waiting";
  result.className = "muted";
  rows.appendChild(tr);
  return { tr, bar, result };
}

function showResult(row, status, reason) {
  row.bar.value = 100;
  row.tr.className = `result-${status}`;
  row.result.className = "";
  row.result.textContent = "";
  const badge = document.createElement("span");
  badge.className = `result-badge ${status}`;
  badge.textContent = LABELS[status] || status;
  row.result.appendChild(badge);
  if (reason) {
    const why = document.createElement("span");
    why.className = "result-reason";
    why.textContent = reason;
    row.result.appendChild(why);
  }
}

function metaOf() {
  const meta = {};
  for (const key of ["line", "camera", "shift"]) {
    const value = form.elements[key].value.trim();
    if (value) meta[key] = value;
  }
  return meta;
}

async function openBatch(name) {
  const response = await fetch(`/api/v1/projects/${project}/batches`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({ name }),
  });
  if (!response.ok) throw new Error((await response.json()).message || response.statusText);
  return (await response.json()).id;
}

function send(file, row, batchId, meta) {
  return new Promise((resolve) => {
    const data = new FormData();
    data.append("files", file, file.name);
    data.append("batch_id", String(batchId));
    if (Object.keys(meta).length) data.append("meta", JSON.stringify(meta));
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1/projects/${project}/images`);
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) row.bar.value = Math.round((95 * e.loaded) / e.total); };
    xhr.onload = () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch { body = {}; }
      const result = body.results && body.results[0];
      if (result) showResult(row, result.status, result.reason);
      else showResult(row, "refused", body.message || `the server answered ${xhr.status}`);
      resolve(result ? result.status : "refused");
    };
    xhr.onerror = () => { showResult(row, "refused", "the upload was interrupted (network)"); resolve("refused"); };
    row.result.textContent = "uploading…";
    xhr.send(data);
  });
}

async function upload(files) {
  if (!files.length) return;
  button.disabled = true;
  results.classList.remove("is-empty");
  rows.textContent = "";
  const counts = { stored: 0, duplicate: 0, refused: 0 };
  const render = () => { summary.textContent = `${counts.stored} stored · ${counts.duplicate} duplicate · ${counts.refused} refused`; };
  const queue = files.map((file) => ({ file, row: addRow(file) }));
  let batchId;
  try {
    batchId = await openBatch(form.elements.batch_name.value.trim() || `upload of ${files.length} files`);
  } catch (err) {
    summary.textContent = `Could not start the upload: ${err.message}`;
    button.disabled = false;
    return;
  }
  const meta = metaOf();
  async function worker() {
    for (let item = queue.shift(); item; item = queue.shift()) {
      if (item.file.size > maxBytes) {
        showResult(item.row, "refused", `larger than the limit of ${human(maxBytes)}`);
        counts.refused += 1;
      } else {
        counts[await send(item.file, item.row, batchId, meta)] += 1;
      }
      render();
    }
  }
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  if (countEl) countEl.textContent = (Number(countEl.textContent.replace(/,/g, "")) + counts.stored).toLocaleString("en");
  button.disabled = false;
  input.value = "";
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  upload(Array.from(input.files));
});
for (const name of ["dragenter", "dragover"]) {
  dropzone.addEventListener(name, (e) => { e.preventDefault(); dropzone.classList.add("is-over"); });
}
for (const name of ["dragleave", "drop"]) {
  dropzone.addEventListener(name, () => dropzone.classList.remove("is-over"));
}
dropzone.addEventListener("drop", (e) => {
  e.preventDefault();
  upload(Array.from(e.dataTransfer.files));
});

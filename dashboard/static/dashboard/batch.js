// Batch: many images (or one zip) become a job; its progress is polled from
// GET /api/v1/batch-jobs/{id}/ (never rate-limited), then the results are shown.
// An anonymous visitor's job is theirs only through the access key its submit
// answered with: this browser keeps it (localStorage) and sends it as X-Job-Key.
import { api, upload, download, percent, bytes, dateTime, element, every, dropZone, showMessage, clearMessage } from "./common.js";
import { recentJobs, cancelButton, resumeFromAddress } from "./jobs.js";

const POLL_MS = 500;
const KEYS = "batch-job-keys"; // {job id: access key}, newest last
const KEPT_KEYS = 20;
const form = document.getElementById("batch-form");
const input = document.getElementById("batch-files");
const error = document.getElementById("batch-error");
const submit = document.getElementById("batch-submit");
const signedIn = form.dataset.signedIn === "true";
let chosen = [];
let stopPolling = null;
let pollFailed = false; // the message on show is a polling failure, cleared once polling recovers

function storedKeys() {
  try {
    return JSON.parse(localStorage.getItem(KEYS)) || {};
  } catch {
    return {};
  }
}

function keepKey(jobId, key) {
  const keys = Object.entries({ ...storedKeys(), [jobId]: key }).slice(-KEPT_KEYS);
  localStorage.setItem(KEYS, JSON.stringify(Object.fromEntries(keys)));
}

function forgetKey(jobId) {
  const keys = storedKeys();
  delete keys[jobId];
  localStorage.setItem(KEYS, JSON.stringify(keys));
}

const keyHeaders = (jobId) => {
  const key = storedKeys()[jobId];
  return key ? { "X-Job-Key": key } : {};
};

const isZip = (file) => file.name.toLowerCase().endsWith(".zip") || file.type === "application/zip";

function choose(files) {
  clearMessage(error);
  chosen = files;
  const total = files.reduce((sum, file) => sum + file.size, 0);
  const zips = files.filter(isZip).length;
  let text = `${files.length} file${files.length === 1 ? "" : "s"} chosen (${bytes(total)}).`;
  if (zips && files.length > 1) {
    text += " A zip must be sent on its own.";
    chosen = [];
  }
  document.getElementById("batch-selection").textContent = text;
  submit.disabled = !chosen.length;
}

async function start(event) {
  event.preventDefault();
  clearMessage(error);
  if (!chosen.length) return;
  submit.disabled = true;
  try {
    const job = chosen.length === 1 && isZip(chosen[0]) ? await submitZip(chosen[0]) : await submitInParts(chosen);
    input.value = "";
    choose([]);
    follow(job.id);
    loadRecent();
  } catch (problem) {
    submit.disabled = !chosen.length;
    showMessage(error, problem.resumable ? problem.message : `The batch job was not started:\n${problem.message}`);
  } finally {
    uploadText.textContent = "";
    uploadBar.hidden = true;
  }
}

// The form's priority (low, normal; high for staff), sent with the job's creation.
const chosenPriority = () => document.getElementById("batch-priority").value;

// One zip is one request (the server unpacks it within its limits).
async function submitZip(file) {
  const body = new FormData();
  body.append("archive", file);
  body.append("priority", chosenPriority());
  const job = await upload("/api/v1/batch-jobs/", body, (share) => {
    uploadText.textContent = share < 1 ? `Uploading… ${percent(share, 0)}` : "Checking the images…";
  });
  if (job.access_key) keepKey(job.id, job.access_key);
  return job;
}

// --- a selection larger than one request: a draft job, its parts, then its start ------
// The files go in parts of at most PART_FILES files and PART_BYTES bytes, one part at
// a time, so that the job's images keep the selection's order. Each part's key names
// the files it holds ("first+count"): a part re-sent after a dropped connection is
// not stored twice, and a new attempt with the same selection asks the server which
// parts it has (GET .../files/) and sends only the others.
const PART_FILES = Number(form.dataset.partFiles);
const PART_BYTES = Number(form.dataset.partBytes);
const RETRIES = 4; // attempts per part beyond the first, with a growing pause
const RETRY_MS = 500;
const DRAFT = "batch-draft"; // {id, selection}: the draft this browser was filling
const uploadText = document.getElementById("batch-upload");
const uploadBar = document.getElementById("batch-upload-progress");

class UploadStopped extends Error {
  constructor(message) {
    super(message);
    this.resumable = true;
  }
}

// Which files were chosen, as a short fingerprint: the same selection resumes its draft.
function fingerprint(files) {
  let hash = 0x811c9dc5;
  for (const text of files.map((file) => `${file.name}\n${file.size}\n${file.lastModified}\n`)) {
    for (let index = 0; index < text.length; index += 1) {
      hash = Math.imul(hash ^ text.charCodeAt(index), 0x01000193) >>> 0;
    }
  }
  return `${files.length}:${hash.toString(16)}`;
}

const keyOf = (part) => `${part.first}+${part.files.length}`;

// The files not yet received, in parts of consecutive files.
function plan(files, received) {
  const parts = [];
  let current = null;
  files.forEach((file, index) => {
    if (received.has(index)) {
      current = null;
      return;
    }
    const full = current && (current.files.length >= PART_FILES || current.bytes + file.size > PART_BYTES);
    if (!current || full) {
      current = { first: index, files: [], bytes: 0 };
      parts.push(current);
    }
    current.files.push(file);
    current.bytes += file.size;
  });
  return parts;
}

// The draft this selection was being sent to, if the server still holds it as a draft;
// else a new one. Returns the job and the indexes of the files it has received.
async function draftFor(files) {
  const selection = fingerprint(files);
  let saved = null;
  try {
    saved = JSON.parse(localStorage.getItem(DRAFT));
  } catch {
    saved = null;
  }
  if (saved && saved.selection === selection) {
    const known = await api(`/api/v1/batch-jobs/${saved.id}/files/`, { headers: keyHeaders(saved.id) }).catch(() => null);
    if (known && known.status === "draft") {
      const received = new Set();
      for (const part of known.parts) {
        const [first, count] = part.key.split("+").map(Number);
        for (let index = first; index < first + count; index += 1) received.add(index);
      }
      return { id: saved.id, received };
    }
  }
  const json = { draft: true, priority: chosenPriority() }; // kept when the draft starts
  const job = await api("/api/v1/batch-jobs/", { method: "POST", json });
  if (job.access_key) keepKey(job.id, job.access_key);
  localStorage.setItem(DRAFT, JSON.stringify({ id: job.id, selection }));
  return { id: job.id, received: new Set() };
}

async function submitInParts(files) {
  const totalBytes = files.reduce((sum, file) => sum + file.size, 0);
  uploadBar.hidden = false;
  uploadBar.value = 0;
  const { id, received } = await draftFor(files);
  let sentBytes = files.reduce((sum, file, index) => sum + (received.has(index) ? file.size : 0), 0);
  let sentFiles = received.size;
  const report = (partShare = 0, part = null) => {
    const share = totalBytes ? (sentBytes + partShare * (part ? part.bytes : 0)) / totalBytes : 1;
    uploadBar.value = Math.min(share, 1);
    uploadText.textContent = `Uploading… ${sentFiles} of ${files.length} images (${percent(share, 0)})`;
  };
  const queue = plan(files, received);
  report();
  while (queue.length) {
    const part = queue.shift();
    let answer;
    try {
      answer = await sendPart(id, part, (share) => report(share, part));
    } catch (problem) {
      if (problem.status === 413 && part.files.length > 1) {
        queue.unshift(...halves(part)); // over the request's pixel budget: smaller parts
        continue;
      }
      throw await stopped(id, problem, sentFiles, files.length);
    }
    sentBytes += part.bytes;
    sentFiles += answer.count;
    report();
  }
  uploadText.textContent = "Starting the job…";
  const job = await api(`/api/v1/batch-jobs/${id}/start/`, { method: "POST", headers: keyHeaders(id) });
  localStorage.removeItem(DRAFT);
  return job;
}

function halves(part) {
  const middle = Math.ceil(part.files.length / 2);
  return [part.files.slice(0, middle), part.files.slice(middle)].map((files, index) => ({
    first: part.first + (index ? middle : 0),
    files,
    bytes: files.reduce((sum, file) => sum + file.size, 0),
  }));
}

// POST one part; a dropped connection, a server error or a rate limit is tried again.
async function sendPart(id, part, onProgress) {
  const body = new FormData();
  body.append("part", keyOf(part));
  for (const file of part.files) body.append("images", file);
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await upload(`/api/v1/batch-jobs/${id}/files/`, body, onProgress, keyHeaders(id));
    } catch (problem) {
      const transient = problem.status === 0 || problem.status === 429 || problem.status >= 500;
      if (!transient || attempt >= RETRIES) throw problem;
      const wait = problem.status === 429 && problem.retryAfter ? problem.retryAfter * 1000 : RETRY_MS * 2 ** attempt;
      uploadText.textContent = `The connection dropped; trying again (attempt ${attempt + 2})…`;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

// What a failed part means: a transient failure keeps the draft (the same selection
// resumes it); a refused file ends it, deleting what it received.
async function stopped(id, problem, sentFiles, total) {
  const transient = problem.status === 0 || problem.status === 429 || problem.status >= 500;
  if (transient) {
    return new UploadStopped(
      `The upload stopped after ${sentFiles} of ${total} images: ${problem.message}\n` +
        "Press “Start batch job” again with the same files to send the rest.",
    );
  }
  localStorage.removeItem(DRAFT);
  await api(`/api/v1/batch-jobs/${id}/cancel/`, { method: "POST", headers: keyHeaders(id) }).catch(() => null);
  return problem;
}

function show(job) {
  document.getElementById("batch-job").hidden = false;
  document.getElementById("batch-job-id").textContent = `#${job.id}`;
  const status = document.getElementById("batch-status");
  status.textContent = job.status;
  status.className = `job-status status-${job.status}`;
  document.getElementById("batch-message").textContent = job.error || job.message || "";
  const bar = document.getElementById("batch-progress");
  bar.value = job.progress;
  bar.textContent = percent(job.progress, 0);
  document.getElementById("batch-counts").textContent =
    `${job.processed} of ${job.total} images predicted (${percent(job.progress, 0)})`;
  const finished = ["succeeded", "failed", "cancelled"].includes(job.status);
  const mayCancel = signedIn || job.id in storedKeys();
  document.getElementById("batch-cancel").hidden = finished || !mayCancel || job.cancel_requested;
  return finished;
}

function follow(jobId) {
  if (stopPolling) stopPolling();
  history.replaceState(null, "", `?job=${jobId}`);
  document.getElementById("batch-results").hidden = true;
  for (const id of ["batch-csv", "batch-json"]) document.getElementById(id).hidden = true;
  stopPolling = every(POLL_MS, async () => {
    let job;
    try {
      job = await api(`/api/v1/batch-jobs/${jobId}/`, { headers: keyHeaders(jobId) });
    } catch (problem) {
      pollFailed = true;
      showMessage(error, `Job ${jobId}: ${problem.message}`);
      return problem.status === 404;
    }
    if (pollFailed) clearMessage(error);
    pollFailed = false;
    const finished = show(job);
    if (finished) {
      await showResults(jobId);
      loadRecent();
    }
    return finished;
  });
}

async function showResults(jobId) {
  const url = `/api/v1/batch-jobs/${jobId}/results/`;
  const body = await api(url, { headers: keyHeaders(jobId) }).catch((problem) => {
    showMessage(error, `The results could not be loaded: ${problem.message}`);
    return null;
  });
  if (!body) return;
  offerDownload(document.getElementById("batch-csv"), jobId, `${url}?as=csv`, `batch-job-${jobId}.csv`);
  offerDownload(document.getElementById("batch-json"), jobId, `${url}?format=json`, `batch-job-${jobId}.json`);
  const rows = body.results.map((row) =>
    element(
      "tr",
      {},
      element("td", { class: "number", text: String(row.position + 1) }),
      element("td", {}, element("img", { class: "thumb", src: row.image_url, alt: row.original_name || `image ${row.position + 1}`, loading: "lazy" })),
      element("td", { text: row.original_name }),
      element("td", { text: row.label ?? "not predicted" }),
      element("td", { class: "number", text: row.confidence === null ? "–" : percent(row.confidence) }),
    ),
  );
  const table = document.getElementById("batch-results");
  table.querySelector("tbody").replaceChildren(...rows);
  table.hidden = false;
}

// A link cannot send the job's key: the file is fetched with it, then saved.
function offerDownload(link, jobId, url, filename) {
  link.href = url;
  link.setAttribute("download", filename);
  link.onclick = async (event) => {
    event.preventDefault();
    try {
      await download(url, filename, keyHeaders(jobId));
    } catch (problem) {
      showMessage(error, `The download failed: ${problem.message}`);
    }
  };
  link.hidden = false;
}

// Signed in: the API lists the visitor's jobs. Anonymous: the jobs whose keys this
// browser keeps (a key whose job is gone is forgotten).
async function keptJobs() {
  const jobs = await Promise.all(
    Object.keys(storedKeys()).reverse().slice(0, 10).map((jobId) =>
      api(`/api/v1/batch-jobs/${jobId}/`, { headers: keyHeaders(jobId) }).catch((problem) => {
        if (problem.status === 404) forgetKey(jobId);
        return null;
      }),
    ),
  );
  return jobs.filter(Boolean).sort((a, b) => b.id - a.id);
}

const loadRecent = recentJobs({
  listUrl: "/api/v1/batch-jobs/",
  load: signedIn ? undefined : keptJobs,
  cells: (job) => [
    element("td", { text: dateTime(job.created_at) }),
    element("td", { class: `status-${job.status}`, text: job.status }),
    element("td", { class: "number", text: `${job.processed} / ${job.total}` }),
  ],
  emptyText: signedIn ? "No batch jobs yet." : "No batch jobs started in this browser yet.",
  error,
  follow,
});
form.addEventListener("submit", start);
cancelButton(document.getElementById("batch-cancel"), { jobsUrl: "/api/v1/batch-jobs/", error, show, headers: keyHeaders });
dropZone(document.getElementById("batch-drop"), input, choose);
resumeFromAddress(follow);
loadRecent();

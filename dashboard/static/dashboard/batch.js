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
  const body = new FormData();
  if (chosen.length === 1 && isZip(chosen[0])) body.append("archive", chosen[0]);
  else for (const file of chosen) body.append("images", file);
  body.append("priority", document.getElementById("batch-priority").value);
  const progress = document.getElementById("batch-upload");
  submit.disabled = true;
  try {
    const job = await upload("/api/v1/batch-jobs/", body, (share) => {
      progress.textContent = share < 1 ? `Uploading… ${percent(share, 0)}` : "Checking the images…";
    });
    progress.textContent = "";
    input.value = "";
    choose([]);
    if (job.access_key) keepKey(job.id, job.access_key);
    follow(job.id);
    loadRecent();
  } catch (problem) {
    progress.textContent = "";
    submit.disabled = false;
    showMessage(error, `The batch job was not started:\n${problem.message}`);
  }
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

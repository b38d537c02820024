// Batch: many images (or one zip) become a job; its progress is polled from
// GET /api/v1/batch-jobs/{id}/ (never rate-limited), then the results are shown.
import { api, upload, percent, bytes, dateTime, element, every, dropZone, showMessage, clearMessage } from "./common.js";
import { recentJobs, cancelButton, resumeFromAddress } from "./jobs.js";

const POLL_MS = 500;
const form = document.getElementById("batch-form");
const input = document.getElementById("batch-files");
const error = document.getElementById("batch-error");
const submit = document.getElementById("batch-submit");
const signedIn = form.dataset.signedIn === "true";
let chosen = [];
let stopPolling = null;
let pollFailed = false; // the message on show is a polling failure, cleared once polling recovers

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
  const progress = document.getElementById("batch-upload");
  submit.disabled = true;
  try {
    const job = await upload("/api/v1/batch-jobs/", body, (share) => {
      progress.textContent = share < 1 ? `Uploading… ${percent(share, 0)}` : "Checking the images…";
    });
    progress.textContent = "";
    input.value = "";
    choose([]);
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
  document.getElementById("batch-cancel").hidden = finished || !signedIn || job.cancel_requested;
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
      job = await api(`/api/v1/batch-jobs/${jobId}/`);
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
  const body = await api(url).catch((problem) => {
    showMessage(error, `The results could not be loaded: ${problem.message}`);
    return null;
  });
  if (!body) return;
  const csv = document.getElementById("batch-csv");
  csv.href = `${url}?as=csv`;
  csv.setAttribute("download", `batch-job-${jobId}.csv`);
  const json = document.getElementById("batch-json");
  json.href = `${url}?format=json`;
  json.setAttribute("download", `batch-job-${jobId}.json`);
  csv.hidden = json.hidden = false;
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

const loadRecent = recentJobs({
  listUrl: "/api/v1/batch-jobs/",
  cells: (job) => [
    element("td", { text: dateTime(job.created_at) }),
    element("td", { class: `status-${job.status}`, text: job.status }),
    element("td", { class: "number", text: `${job.processed} / ${job.total}` }),
  ],
  emptyText: "No batch jobs yet.",
  error,
  follow,
});
form.addEventListener("submit", start);
cancelButton(document.getElementById("batch-cancel"), { jobsUrl: "/api/v1/batch-jobs/", error, show });
dropZone(document.getElementById("batch-drop"), input, choose);
resumeFromAddress(follow);
loadRecent();

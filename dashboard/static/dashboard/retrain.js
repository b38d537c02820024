// Retrain: POST /api/v1/training-jobs/, then follow GET /api/v1/training-jobs/{id}/
// (never rate-limited): epoch x of y, and loss and accuracy curves from `history`.
import { api, percent, dateTime, element, every, showMessage, clearMessage } from "./common.js";
import { lineChart } from "./charts.js";
import { recentJobs, cancelButton, resumeFromAddress } from "./jobs.js";

const POLL_MS = 1000;
const error = document.getElementById("retrain-error");
const panel = document.getElementById("training-job");
const signedIn = panel.dataset.signedIn === "true";
const FINISHED = ["succeeded", "failed", "cancelled"];
let stopPolling = null;
let pollFailed = false; // the message on show is a polling failure, cleared once polling recovers
let drawnEpochs = -1;

function series(history, key, name) {
  return { name, points: history.filter((row) => row[key] !== undefined).map((row) => [row.epoch, row[key]]) };
}

// The x axis spans every planned epoch, so the curves grow across it as epochs end.
function draw(history, totalEpochs) {
  if (history.length === drawnEpochs) return;
  drawnEpochs = history.length;
  if (!history.length) return;
  lineChart(document.getElementById("loss-chart"), [series(history, "loss", "training loss"), series(history, "val_loss", "validation loss")], {
    title: "Loss per epoch",
    xMax: totalEpochs,
    yMin: 0,
  });
  lineChart(
    document.getElementById("accuracy-chart"),
    [series(history, "accuracy", "training accuracy"), series(history, "val_accuracy", "validation accuracy")],
    { title: "Accuracy per epoch", xMax: totalEpochs, yMin: 0, yMax: 1 },
  );
}

function show(job) {
  panel.hidden = false;
  document.getElementById("training-job-id").textContent = `#${job.id}`;
  const status = document.getElementById("training-status");
  status.textContent = job.status;
  status.className = `job-status status-${job.status}`;
  document.getElementById("training-epoch").textContent = `epoch ${job.epoch} of ${job.total_epochs}`;
  document.getElementById("training-message").textContent = job.error ? `${job.message}\n${job.error}` : job.message;
  const bar = document.getElementById("training-progress");
  bar.value = job.progress;
  bar.textContent = percent(job.progress, 0);
  const finished = FINISHED.includes(job.status);
  document.getElementById("training-cancel").hidden = finished || !signedIn || job.cancel_requested;
  const version = document.getElementById("training-version");
  version.hidden = !job.model_version;
  if (job.model_version) {
    version.href = `/models/${job.model_version}/`;
    version.textContent = `See version ${job.model_version}`;
  }
  draw(job.history || [], job.total_epochs);
  return finished;
}

function follow(jobId) {
  if (stopPolling) stopPolling();
  drawnEpochs = -1;
  history.replaceState(null, "", `?job=${jobId}`);
  stopPolling = every(POLL_MS, async () => {
    try {
      const finished = show(await api(`/api/v1/training-jobs/${jobId}/`));
      if (pollFailed) clearMessage(error);
      pollFailed = false;
      if (finished) loadRecent();
      return finished;
    } catch (problem) {
      pollFailed = true;
      showMessage(error, `Job ${jobId}: ${problem.message}`);
      return problem.status === 404;
    }
  });
}

async function start(event) {
  event.preventDefault();
  clearMessage(error);
  const form = event.target;
  const number = (input) => (input.value === "" ? undefined : Number(input.value));
  // One input per recipe knob (data-knob: its kind); an emptied number is left out,
  // so the API applies the recipe's default.
  const knobValue = { number, boolean: (input) => input.checked, choice: (input) => input.value };
  const request = {
    max_train_images: number(form.elements.max_train_images) ?? null,
    auto_promote: form.elements.auto_promote.checked,
    priority: form.elements.priority.value,
  };
  for (const input of form.querySelectorAll("[data-knob]")) {
    request[input.name] = knobValue[input.dataset.knob](input);
  }
  const submit = document.getElementById("retrain-submit");
  submit.disabled = true;
  try {
    const job = await api("/api/v1/training-jobs/", { method: "POST", json: request });
    follow(job.id);
    loadRecent();
  } catch (problem) {
    showMessage(error, `Training was not started:\n${problem.message}`);
  } finally {
    submit.disabled = false;
  }
}

// Submitters' names are staff-only: the API sends them to staff, the page has the column.
const showSubmitters = document.getElementById("recent-jobs").dataset.showSubmitters === "true";
const loadRecent = recentJobs({
  listUrl: "/api/v1/training-jobs/?kind=training",
  cells: (job) => [
    element("td", { text: dateTime(job.created_at) }),
    showSubmitters ? element("td", { text: job.submitted_by || "–" }) : null,
    element("td", { class: `status-${job.status}`, text: job.status }),
    element("td", { text: `${job.epoch} / ${job.total_epochs}` }),
    element("td", {}, job.model_version ? element("a", { href: `/models/${job.model_version}/`, text: `version ${job.model_version}` }) : job.message),
  ],
  emptyText: "No training jobs yet.",
  error,
  follow,
});
document.getElementById("retrain-form")?.addEventListener("submit", start);
cancelButton(document.getElementById("training-cancel"), { jobsUrl: "/api/v1/training-jobs/", error, show });
resumeFromAddress(follow);
loadRecent();

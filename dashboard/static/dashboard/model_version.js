// One version: promote it, or evaluate it again on the current test split (a job
// followed through GET /api/v1/training-jobs/{id}/).
import { api, every, showMessage } from "./common.js";

const message = document.getElementById("version-message");
const error = document.getElementById("version-error");

document.getElementById("promote")?.addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  try {
    await api(button.dataset.url, { method: "POST" });
    location.reload();
  } catch (problem) {
    showMessage(error, problem.message);
    button.disabled = false;
  }
});

document.getElementById("evaluate")?.addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  let job;
  try {
    job = await api(button.dataset.url, { method: "POST" });
  } catch (problem) {
    showMessage(error, problem.message);
    button.disabled = false;
    return;
  }
  document.getElementById("evaluation-job").hidden = false;
  document.getElementById("evaluation-job-id").textContent = `#${job.id}`;
  every(1000, async () => {
    const current = await api(`/api/v1/training-jobs/${job.id}/`);
    const status = document.getElementById("evaluation-status");
    status.textContent = current.status;
    status.className = `job-status status-${current.status}`;
    document.getElementById("evaluation-message").textContent = current.error || current.message;
    const finished = ["succeeded", "failed", "cancelled"].includes(current.status);
    if (finished) {
      button.disabled = false;
      if (current.status === "succeeded") showMessage(message, `Evaluated: ${current.message}`, "success");
    }
    return finished;
  });
});

// Models: promote a version (POST /api/v1/model-versions/{n}/promote/) or roll
// production back (POST /api/v1/model-versions/rollback/); the server checks the
// permission; the page reloads to show the new state, with the outcome in words.
import { api, showMessage } from "./common.js";

const FLASH = "dashboard-models-flash";
const message = document.getElementById("models-message");
const error = document.getElementById("models-error");

const flash = sessionStorage.getItem(FLASH);
if (flash) {
  sessionStorage.removeItem(FLASH);
  showMessage(message, flash, "success");
}

async function act(button, describe) {
  button.disabled = true;
  try {
    const version = await api(button.dataset.url, { method: "POST" });
    sessionStorage.setItem(FLASH, describe(version));
    location.reload();
  } catch (problem) {
    showMessage(error, problem.message);
    button.disabled = false;
  }
}

for (const button of document.querySelectorAll("button.promote")) {
  button.addEventListener("click", () => act(button, (version) => `Version ${version.number} is now in production.`));
}
document.getElementById("rollback")?.addEventListener("click", (event) =>
  act(event.currentTarget, (version) => `Rolled back: version ${version.number} is in production again.`),
);

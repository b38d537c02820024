// Predict: drop or pick one image, preview it, send it to POST /api/v1/predict/,
// show the top class and a bar per class.
import { api, percent, dropZone, showMessage, clearMessage } from "./common.js";
import { bars } from "./charts.js";

const input = document.getElementById("predict-file");
const error = document.getElementById("predict-error");
const output = document.getElementById("predict-output");
const status = document.getElementById("predict-status");
const answer = document.getElementById("predict-answer");
let previewUrl = null;

async function predict(files) {
  clearMessage(error);
  if (files.length !== 1) {
    showMessage(error, "Choose exactly one image here; the Batch page takes many.");
    return;
  }
  const [file] = files;
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = URL.createObjectURL(file);
  document.getElementById("predict-preview").src = previewUrl;
  document.getElementById("predict-name").textContent = file.name;
  output.hidden = false;
  answer.hidden = true;
  status.hidden = false;
  status.textContent = "Predicting…";
  const form = new FormData();
  form.append("image", file);
  form.append("top_k", "100");
  try {
    const result = await api("/api/v1/predict/", { method: "POST", form });
    document.getElementById("predict-label").textContent = result.label;
    document.getElementById("predict-confidence").textContent = percent(result.confidence);
    document.getElementById("predict-version").textContent = result.model_version;
    document.getElementById("predict-id").textContent = result.prediction_id;
    const rows = Object.entries(result.probabilities)
      .sort((a, b) => b[1] - a[1])
      .map(([label, probability]) => ({ label, value: probability, text: percent(probability) }));
    bars(document.getElementById("predict-bars"), rows, { max: 1, highlight: result.label, name: "Class probabilities" });
    status.hidden = true;
    answer.hidden = false;
  } catch (problem) {
    status.hidden = true;
    showMessage(error, `The image could not be predicted:\n${problem.message}`);
  } finally {
    input.value = "";
  }
}

document.getElementById("predict-form").addEventListener("submit", (event) => event.preventDefault());
dropZone(document.getElementById("predict-drop"), input, predict);

// Service panel: uptime, readiness of each part, production model. Polls endpoints
// that are never rate-limited (health and model info), every 10 s while visible.
import { api, duration, every, showMessage, clearMessage } from "./common.js";

const REFRESH_MS = 10000;
const error = document.getElementById("service-error");
let uptimeAt = null; // [seconds, when measured]
let servingAt = null;

function tick() {
  const now = performance.now();
  if (uptimeAt) document.getElementById("uptime").textContent = duration(uptimeAt[0] + (now - uptimeAt[1]) / 1000);
  if (servingAt) document.getElementById("serving-for").textContent = duration(servingAt[0] + (now - servingAt[1]) / 1000);
}

async function refresh() {
  try {
    const [model, ready] = await Promise.all([
      api("/api/v1/model/"),
      api("/api/v1/health/ready/", { expect: [503] }),
    ]);
    const now = performance.now();
    uptimeAt = [model.service_uptime_seconds, now];
    servingAt = model.model_serving_seconds === null ? null : [model.model_serving_seconds, now];
    if (!servingAt) document.getElementById("serving-for").textContent = "–";
    const production = model.production;
    document.getElementById("production-version").textContent = production ? `version ${production.number}` : "none";
    document.getElementById("production-accuracy").textContent =
      production && production.accuracy !== null ? production.accuracy.toFixed(3) : "–";
    const readiness = document.getElementById("readiness");
    readiness.textContent = ready.ready ? "ready" : "not ready";
    readiness.className = ready.ready ? "status-succeeded" : "status-failed";
    for (const item of document.querySelectorAll("#checks li")) {
      const check = (ready.checks || {})[item.dataset.check];
      const name = item.dataset.name || (item.dataset.name = item.textContent);
      item.className = check ? (check.ok ? "ok" : "problem") : "";
      item.textContent = check ? `${name}: ${check.detail}` : `${name}: not checked`;
    }
    document.getElementById("checked-at").textContent = `Last checked ${new Date().toLocaleTimeString()}.`;
    clearMessage(error);
    tick();
  } catch (problem) {
    showMessage(error, `Could not refresh the service status: ${problem.message}`);
  }
  return false;
}

every(REFRESH_MS, refresh);
setInterval(tick, 1000);

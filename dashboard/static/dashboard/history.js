// History: GET /api/v1/predictions/ (paged, filtered) and /api/v1/predictions/stats/
// with the same filters. The filters live in the page's address, so it can be shared.
import { api, percent, dateTime, element, showMessage, clearMessage } from "./common.js";
import { bars } from "./charts.js";

const PAGE_SIZE = 50; // the API's page size
const form = document.getElementById("history-filters");
const error = document.getElementById("history-error");
const list = document.getElementById("history-list");

function filtersFromAddress() {
  const query = new URLSearchParams(location.search);
  for (const field of form.elements) {
    if (field.name && query.has(field.name)) field.value = query.get(field.name);
  }
  return Math.max(1, Number(query.get("page")) || 1);
}

// The form's values as API parameters (percent to fraction, dates to instants).
function apiQuery(page) {
  const query = new URLSearchParams();
  for (const field of form.elements) {
    if (!field.name || field.value === "") continue;
    let value = field.value;
    if (field.name.endsWith("_confidence")) value = String(Number(value) / 100);
    if (field.name === "created_after") value = new Date(`${value}T00:00:00`).toISOString();
    if (field.name === "created_before") {
      const end = new Date(`${value}T00:00:00`);
      end.setDate(end.getDate() + 1);
      value = end.toISOString();
    }
    query.set(field.name, value);
  }
  if (page > 1) query.set("page", String(page));
  return query;
}

function addressQuery(page) {
  const query = new URLSearchParams(new FormData(form));
  for (const [name, value] of [...query]) if (value === "") query.delete(name);
  if (page > 1) query.set("page", String(page));
  return query;
}

function card(prediction) {
  return element(
    "figure",
    { "data-prediction": prediction.id },
    element("img", { src: prediction.image_url, alt: prediction.original_name || `prediction ${prediction.id}`, loading: "lazy" }),
    element(
      "figcaption",
      {},
      element("strong", { text: `${prediction.top_label} · ${percent(prediction.confidence)}` }),
      element("span", { class: "muted", text: `v${prediction.model_version} · ${prediction.source} · ${dateTime(prediction.created_at)}` }),
      prediction.original_name ? element("span", { class: "muted", text: ` · ${prediction.original_name}` }) : null,
    ),
  );
}

async function load(page) {
  clearMessage(error);
  const query = apiQuery(page);
  const statsQuery = new URLSearchParams(query);
  statsQuery.delete("page");
  try {
    const [body, stats] = await Promise.all([
      api(`/api/v1/predictions/?${query}`),
      api(`/api/v1/predictions/stats/?${statsQuery}`),
    ]);
    list.replaceChildren(...(body.results.length ? body.results.map(card) : [element("p", { class: "muted", text: "No predictions match these filters." })]));
    const pages = Math.max(1, Math.ceil(body.count / PAGE_SIZE));
    document.getElementById("page-info").textContent = `Page ${page} of ${pages} (${body.count} predictions)`;
    document.getElementById("page-previous").disabled = !body.previous;
    document.getElementById("page-next").disabled = !body.next;
    showStats(stats);
  } catch (problem) {
    showMessage(error, problem.message);
  }
}

function showStats(stats) {
  const average = stats.average_confidence === null ? "–" : percent(stats.average_confidence);
  document.getElementById("stats-summary").textContent = `${stats.total} predictions; average confidence ${average}.`;
  const classes = Object.entries(stats.per_class)
    .sort((a, b) => b[1] - a[1])
    .map(([label, count]) => ({ label, value: count }));
  bars(document.getElementById("stats-classes"), classes, { name: "Predictions per class" });
  const days = stats.per_day.slice(-14).map((day) => ({ label: day.date, value: day.count }));
  bars(document.getElementById("stats-days"), days, { name: "Predictions per day (last 14 days with any)" });
}

let page = filtersFromAddress();

function go(newPage) {
  page = newPage;
  const query = addressQuery(page).toString();
  history.pushState(null, "", query ? `?${query}` : location.pathname);
  load(page);
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  go(1);
});
form.addEventListener("reset", () => setTimeout(() => go(1)));
document.getElementById("page-previous").addEventListener("click", () => go(page - 1));
document.getElementById("page-next").addEventListener("click", () => go(page + 1));
window.addEventListener("popstate", () => {
  for (const field of form.elements) if (field.name) field.value = "";
  page = filtersFromAddress();
  load(page);
});
load(page);

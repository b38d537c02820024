// What the batch and retrain pages share: a table of recent jobs whose links follow a
// job in place, a cancel button, and resuming the job named in the address (?job=).
import { api, element, showMessage, clearMessage } from "./common.js";

// Wires the #recent-jobs table and returns the function that (re)loads it. `cells`
// gives a job's cells after the first, which links to the job; `load` (by default the
// first page of `listUrl`) gives the jobs.
export function recentJobs({ listUrl, cells, emptyText, error, follow, load = async () => (await api(listUrl)).results }) {
  const table = document.getElementById("recent-jobs");
  const body = table.querySelector("tbody");
  const width = table.querySelectorAll("thead th").length;
  const note = (text, className) => element("tr", {}, element("td", { colspan: width, class: className, text }));
  table.addEventListener("click", (event) => {
    const link = event.target.closest("a[href^='?job=']");
    if (!link) return;
    event.preventDefault();
    clearMessage(error);
    follow(Number(new URLSearchParams(link.getAttribute("href")).get("job")));
  });
  return async function loadRecent() {
    try {
      const jobs = await load();
      const rows = jobs.slice(0, 10).map((job) =>
        element("tr", {}, element("td", {}, element("a", { href: `?job=${job.id}`, text: `#${job.id}` })), ...cells(job)),
      );
      body.replaceChildren(...(rows.length ? rows : [note(emptyText, "muted")]));
    } catch (problem) {
      body.replaceChildren(note(problem.message, "error"));
    }
  };
}

// POST {jobsUrl}{id}/cancel/ for the followed job; `show` draws the answer;
// `headers(jobId)` adds any the job needs (an anonymous batch job's key).
export function cancelButton(button, { jobsUrl, error, show, headers = () => ({}) }) {
  button.addEventListener("click", async () => {
    const jobId = new URLSearchParams(location.search).get("job");
    try {
      show(await api(`${jobsUrl}${jobId}/cancel/`, { method: "POST", headers: headers(jobId) }));
    } catch (problem) {
      showMessage(error, `The job was not cancelled: ${problem.message}`);
    }
  });
}

export function resumeFromAddress(follow) {
  const jobId = new URLSearchParams(location.search).get("job");
  if (jobId) follow(Number(jobId));
}

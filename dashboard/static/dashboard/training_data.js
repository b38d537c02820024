// Training data: counts per class and split (GET /api/v1/training-images/counts/),
// the latest images (GET /api/v1/training-images/, for those allowed to see them),
// uploads of labelled images or a zip of class folders (POST /api/v1/training-images/).
import { api, upload, bytes, percent, element, dropZone, showMessage, clearMessage } from "./common.js";

const SPLITS = ["train", "test"];

async function loadCounts() {
  const body = document.querySelector("#counts tbody");
  const foot = document.querySelector("#counts tfoot");
  try {
    const data = await api("/api/v1/training-images/counts/");
    const classes = new Map();
    for (const row of data.counts) {
      const counts = classes.get(row.label) || { train: 0, test: 0, excluded: 0, total: 0 };
      if (row.status === "excluded") counts.excluded += row.count;
      else counts[row.split] += row.count;
      counts.total += row.count;
      classes.set(row.label, counts);
    }
    const cells = (name, counts, tag = "td") => [
      element(tag, tag === "th" ? { scope: "row", text: name } : { text: name }),
      ...[...SPLITS, "excluded", "total"].map((key) => element("td", { class: "number", text: String(counts[key]) })),
    ];
    const rows = [...classes].map(([label, counts]) => element("tr", { "data-label": label }, ...cells(label, counts, "th")));
    body.replaceChildren(...(rows.length ? rows : [element("tr", {}, element("td", { colspan: 5, class: "muted", text: "No training images yet." }))]));
    const totals = { train: 0, test: 0, excluded: 0, total: 0 };
    for (const counts of classes.values()) for (const key in totals) totals[key] += counts[key];
    foot.replaceChildren(element("tr", {}, ...cells("All classes", totals, "th")));
  } catch (problem) {
    body.replaceChildren(element("tr", {}, element("td", { colspan: 5, class: "error", text: problem.message })));
  }
}

// The images themselves only for those the API shows them to (the page leaves the
// gallery out for the others).
async function loadRecent() {
  const gallery = document.getElementById("recent-images");
  if (!gallery) return;
  try {
    const page = await api("/api/v1/training-images/");
    gallery.replaceChildren(
      ...page.results.slice(0, 12).map((image) =>
        element(
          "figure",
          {},
          element("img", { src: image.image_url, alt: `${image.label} (${image.original_name})`, loading: "lazy" }),
          element("figcaption", {}, element("strong", { text: image.label }), element("span", { class: "muted", text: `${image.split} · ${image.status} · ${image.source}` })),
        ),
      ),
    );
  } catch (problem) {
    gallery.replaceChildren(element("p", { class: "error", text: problem.message }));
  }
}

function setUpUpload() {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const images = document.getElementById("upload-images");
  const error = document.getElementById("upload-error");
  const result = document.getElementById("upload-result");
  const progress = document.getElementById("upload-progress");
  let chosen = [];
  const kind = () => form.elements.kind.value;
  const toggle = () => {
    document.getElementById("images-fields").hidden = kind() !== "images";
    document.getElementById("archive-fields").hidden = kind() !== "archive";
  };
  for (const radio of form.elements.kind) radio.addEventListener("change", toggle);
  toggle();
  dropZone(document.getElementById("upload-drop"), images, (files) => {
    chosen = files;
    const total = files.reduce((sum, file) => sum + file.size, 0);
    document.getElementById("upload-selection").textContent = `${files.length} file${files.length === 1 ? "" : "s"} chosen (${bytes(total)}).`;
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessage(error);
    clearMessage(result);
    const body = new FormData();
    body.append("split", form.elements.split.value);
    body.append("new_class", form.elements.new_class.checked ? "true" : "false");
    if (kind() === "images") {
      if (!chosen.length) return showMessage(error, "Choose at least one image.");
      const label = form.elements.label.value.trim();
      if (!label) return showMessage(error, "Give the class of these images.");
      for (const file of chosen) body.append("images", file);
      body.append("label", label);
    } else {
      const archive = document.getElementById("upload-archive").files[0];
      if (!archive) return showMessage(error, "Choose a zip file.");
      body.append("archive", archive);
    }
    const submit = document.getElementById("upload-submit");
    submit.disabled = true;
    try {
      const summary = await upload("/api/v1/training-images/", body, (share) => {
        progress.textContent = share < 1 ? `Uploading… ${percent(share, 0)}` : "Checking and storing…";
      });
      const lines = [`Added ${summary.created} image${summary.created === 1 ? "" : "s"}; ${summary.already_present} already present.`];
      if (summary.rejected.length) lines.push(`Rejected ${summary.rejected.length}:`, ...summary.rejected);
      showMessage(result, lines.join("\n"), summary.rejected.length ? "notice" : "success");
      chosen = [];
      form.reset();
      toggle();
      document.getElementById("upload-selection").textContent = "No files chosen.";
      loadCounts();
      loadRecent();
    } catch (problem) {
      showMessage(error, `The upload failed:\n${problem.message}`);
    } finally {
      submit.disabled = false;
      progress.textContent = "";
    }
  });
}

setUpUpload();
loadCounts();
loadRecent();

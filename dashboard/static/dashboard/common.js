// What every dashboard page shares: calling the JSON API with the session (and the
// CSRF token on every unsafe request), turning API errors into words, formatting.

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]').content;
}

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super(describeError(status, body, retryAfter));
    this.status = status;
    this.body = body;
    this.retryAfter = Number(retryAfter) || 0;
  }
}

function flatten(errors, prefix = "") {
  // DRF errors: {"field": ["message"]}, ["message"], or nested for list fields.
  if (errors === null || errors === undefined) return [];
  if (typeof errors === "string") return [prefix ? `${prefix}: ${errors}` : errors];
  if (Array.isArray(errors)) return errors.flatMap((item) => flatten(item, prefix));
  return Object.entries(errors).flatMap(([field, value]) => {
    const name = field === "non_field_errors" ? prefix : prefix ? `${prefix}.${field}` : field;
    return flatten(value, name);
  });
}

export function describeError(status, body, retryAfter) {
  const wait = retryAfter ? ` Try again in ${retryAfter} s.` : " Try again shortly.";
  // A quota (429, naming it) or a full service (503): the server's words say which.
  if ((status === 429 || status === 503) && body && body.detail && retryAfter) {
    return `${body.detail}.${wait}`.replace("..", ".");
  }
  if (status === 429) return `Too many requests.${wait}`;
  const lines = [];
  if (body && typeof body === "object") {
    const details = flatten(body.errors);
    if (body.detail && !(body.detail === "invalid input" && details.length)) lines.push(body.detail);
    lines.push(...details);
    if (Array.isArray(body.problems)) lines.push(...body.problems);
  }
  if (!lines.length) {
    if (status === 401) lines.push("Please sign in first.");
    else if (status === 403) lines.push("Your account is not allowed to do this.");
    else if (status >= 500) lines.push(`The server failed (HTTP ${status}); it has been logged.`);
    else lines.push(`The request failed (HTTP ${status}).`);
  }
  return lines.join("\n");
}

async function readBody(response) {
  const type = response.headers.get("Content-Type") || "";
  if (!type.includes("json")) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

// fetch() the API; resolves to the JSON body, throws ApiError with a readable message.
// `expect` lists non-2xx statuses whose body is still the answer (503 of readiness).
export async function api(url, { method = "GET", json, form, expect = [], headers: extra = {} } = {}) {
  const headers = { Accept: "application/json", ...extra };
  let body;
  if (!SAFE_METHODS.has(method)) headers["X-CSRFToken"] = csrfToken();
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body, credentials: "same-origin" });
  } catch (error) {
    throw new ApiError(0, { detail: `The server could not be reached (${error.message}).` });
  }
  const data = await readBody(response);
  if (!response.ok && !expect.includes(response.status)) {
    throw new ApiError(response.status, data, response.headers.get("Retry-After"));
  }
  return data;
}

// GET `url` (with `headers`, which a link cannot send) and save the answer as `filename`.
export async function download(url, filename, headers = {}) {
  let response;
  try {
    response = await fetch(url, { headers, credentials: "same-origin" });
  } catch (error) {
    throw new ApiError(0, { detail: `The server could not be reached (${error.message}).` });
  }
  if (!response.ok) throw new ApiError(response.status, await readBody(response), response.headers.get("Retry-After"));
  const link = element("a", { href: URL.createObjectURL(await response.blob()), download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

// Multipart upload with progress (fetch cannot report upload progress).
export function upload(url, form, onProgress = () => {}, headers = {}) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.setRequestHeader("Accept", "application/json");
    request.setRequestHeader("X-CSRFToken", csrfToken());
    for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      let data = null;
      try {
        data = JSON.parse(request.responseText);
      } catch {
        data = null;
      }
      if (request.status >= 200 && request.status < 300) resolve(data);
      else reject(new ApiError(request.status, data, request.getResponseHeader("Retry-After")));
    });
    request.addEventListener("error", () =>
      reject(new ApiError(0, { detail: "The upload failed: the server could not be reached." })),
    );
    request.send(form);
  });
}

export function showMessage(element, text, kind = "error") {
  element.textContent = text;
  element.className = kind;
  element.hidden = !text;
}

export function clearMessage(element) {
  showMessage(element, "");
}

export function percent(value, digits = 1) {
  return `${(value * 100).toFixed(digits)}%`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const total = Math.floor(seconds);
  const days = Math.floor(total / 86400);
  const hours = Math.floor((total % 86400) / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = total % 60;
  if (days) return `${days} d ${hours} h ${minutes} min`;
  if (hours) return `${hours} h ${minutes} min`;
  if (minutes) return `${minutes} min ${rest} s`;
  return `${rest} s`;
}

export function dateTime(value) {
  return value ? new Date(value).toLocaleString() : "–";
}

export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

export function bytes(count) {
  if (count >= 1024 * 1024) return `${(count / 1024 / 1024).toFixed(1)} MB`;
  if (count >= 1024) return `${(count / 1024).toFixed(0)} KB`;
  return `${count} B`;
}

// Calls `task` now and then every `interval` ms until it returns true; pauses while
// the tab is hidden. Returns a function that stops it.
export function every(interval, task) {
  let timer = null;
  let running = false;
  let stopped = false;
  const run = async () => {
    timer = null;
    if (stopped || running || document.hidden) return;
    running = true;
    let done = false;
    try {
      done = await task();
    } catch (error) {
      console.error(error);
    }
    running = false;
    if (done) stopped = true;
    else if (!stopped) timer = setTimeout(run, interval);
  };
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && timer === null) run();
  });
  run();
  return () => {
    stopped = true;
    if (timer !== null) clearTimeout(timer);
  };
}

// A drop zone: the label wrapping a file input also accepts dragged files.
export function dropZone(zone, input, onFiles) {
  const stop = (event) => {
    event.preventDefault();
    event.stopPropagation();
  };
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      stop(event);
      zone.classList.add("dragging");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, (event) => {
      stop(event);
      zone.classList.remove("dragging");
    });
  }
  zone.addEventListener("drop", (event) => {
    const files = [...event.dataTransfer.files];
    if (files.length) onFiles(files);
  });
  input.addEventListener("change", () => {
    if (input.files.length) onFiles([...input.files]);
  });
}

// The dashboard: polls the API with the key the user gives (kept in this tab only).
"use strict";

const state = { key: sessionStorage.getItem("qservice-key") || "" };

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + state.key }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers }));
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error((body && body.detail) || response.statusText);
  return body;
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  row.appendChild(td);
}

function summary(job) {
  const r = job.result;
  if (job.error) return job.error;
  if (!r) return job.progress ? JSON.stringify(job.progress) : "";
  if (r.energy !== undefined) return `${r.solver}: energy ${r.energy}` + (r.cut != null ? `, cut ${r.cut}` : "");
  if (r.final) return `accuracy ${fmt(r.final.accuracy)}, epsilon ${fmt(r.final.epsilon_max)}`;
  return "done";
}

const fmt = (x) => (x == null ? "n/a" : Number(x).toFixed(3));

async function refreshHealth() {
  const badge = document.getElementById("health");
  try {
    const response = await fetch("/readyz");
    const body = await response.json();
    badge.textContent = "health: " + body.status + (body.failing.length ? " (" + body.failing.join(", ") + ")" : "");
    badge.className = "badge " + (body.status === "ok" ? "ok" : "failing");
  } catch (e) {
    badge.textContent = "health: unreachable";
    badge.className = "badge failing";
  }
}

async function refreshJobs() {
  if (!state.key) return;
  const page = await api("/v1/jobs?limit=25");
  const body = document.querySelector("#jobs-table tbody");
  body.replaceChildren();
  const recent = document.querySelector("#recent-table tbody");
  recent.replaceChildren();
  const runs = [];
  for (const job of page.items) {
    const row = document.createElement("tr");
    row.dataset.jobId = job.id;
    row.dataset.status = job.status;
    cell(row, job.id.slice(0, 8));
    cell(row, job.kind);
    cell(row, job.status, "status-" + job.status);
    cell(row, job.created_at || "");
    cell(row, String(job.attempts));
    cell(row, summary(job));
    body.appendChild(row);
    if (job.kind === "solve" && job.result) {
      const r = document.createElement("tr");
      cell(r, job.id.slice(0, 8));
      cell(r, job.result.solver);
      cell(r, String(job.result.energy));
      cell(r, job.result.cut != null ? String(job.result.cut) : "");
      cell(r, fmt(job.result.wall_s));
      recent.appendChild(r);
    }
    if (job.kind === "federated") runs.push(job);
  }
  await drawRuns(runs);
}

async function roundsOf(job) {
  if (job.result && job.result.rounds) return job.result.rounds;
  // a run in progress: its round events so far (a snapshot of the SSE stream's history)
  return new Promise((resolve) => {
    const rows = [];
    const source = new EventSourcePolyfill(`/v1/jobs/${job.id}/events`, (type, data) => {
      if (type === "round") rows.push(data);
    }, () => resolve(rows));
    setTimeout(() => { source.close(); resolve(rows); }, 1500);
  });
}

// EventSource cannot send an Authorization header: read the stream with fetch instead
function EventSourcePolyfill(url, onEvent, onEnd) {
  const controller = new AbortController();
  fetch(url, { headers: { Authorization: "Bearer " + state.key }, signal: controller.signal })
    .then(async (response) => {
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const type = (block.match(/^event: (.*)$/m) || [])[1];
          const data = (block.match(/^data: (.*)$/m) || [])[1];
          if (type === "end") { onEnd(); return; }
          if (type && data) onEvent(type, JSON.parse(data));
        }
      }
      onEnd();
    })
    .catch(() => onEnd());
  return { close: () => controller.abort() };
}

function chart(title, rounds, key, color) {
  const canvas = document.createElement("canvas");
  canvas.width = 320; canvas.height = 160;
  const g = canvas.getContext("2d");
  const points = rounds.filter((r) => r[key] != null);
  g.font = "12px sans-serif"; g.fillStyle = "#1d2330";
  g.fillText(title, 8, 14);
  canvas.dataset.metric = key;
  if (!points.length) { g.fillText("no data", 8, 80); canvas.dataset.points = "[]"; return canvas; }
  const xs = points.map((r) => r.round), ys = points.map((r) => r[key]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const y0 = Math.min(0, ...ys), y1 = Math.max(...ys, y0 + 1e-9);
  const X = (x) => 30 + ((x - x0) / (x1 - x0)) * 280, Y = (y) => 145 - ((y - y0) / (y1 - y0)) * 115;
  g.strokeStyle = "#ccc"; g.beginPath(); g.moveTo(30, 30); g.lineTo(30, 145); g.lineTo(310, 145); g.stroke();
  g.fillText(fmt(y1), 0, 34); g.fillText(fmt(y0), 0, 145);
  g.fillText("round " + x0, 30, 158);
  if (x1 !== x0 && xs.includes(x1)) { g.textAlign = "right"; g.fillText("round " + x1, 310, 158); g.textAlign = "left"; }
  g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
  points.forEach((r, i) => (i ? g.lineTo : g.moveTo).call(g, X(r.round), Y(r[key])));
  g.stroke();
  points.forEach((r) => { g.fillStyle = color; g.fillRect(X(r.round) - 2, Y(r[key]) - 2, 4, 4); });
  // what was drawn, for screen readers and the browser test: [round, value, x, y] per point
  canvas.dataset.points = JSON.stringify(points.map((r) => [r.round, r[key], Math.round(X(r.round)), Math.round(Y(r[key]))]));
  canvas.setAttribute("aria-label", `${title} per round: ` + points.map((r) => `round ${r.round} ${fmt(r[key])}`).join(", "));
  return canvas;
}

async function drawRuns(runs) {
  const box = document.getElementById("runs");
  if (!runs.length) return;
  const parts = [];
  for (const job of runs.slice(0, 4)) {
    const rounds = await roundsOf(job);
    const div = document.createElement("div");
    div.className = "run";
    div.dataset.jobId = job.id;
    const label = document.createElement("p");
    label.textContent = `run ${job.id.slice(0, 8)} (${job.status}), ${rounds.length} rounds`;
    div.append(label, chart("accuracy", rounds, "accuracy", "#1b5fb8"), chart("epsilon (max)", rounds, "epsilon_max", "#b3261e"));
    parts.push(div);
  }
  box.replaceChildren(...parts);
}

async function startSolve(event) {
  event.preventDefault();
  const status = document.getElementById("solve-status");
  const file = document.getElementById("gset-file").files[0];
  const form = new FormData();
  form.append("file", file);
  form.append("solver", document.getElementById("solver").value);
  form.append("time_limit", document.getElementById("time-limit").value);
  try {
    const job = await api("/v1/solve/gset", { method: "POST", body: form });
    status.textContent = `job ${job.id} ${job.status}`;
    status.dataset.jobId = job.id;
    await refreshJobs();
  } catch (e) {
    status.textContent = "error: " + e.message;
  }
}

async function tick() {
  await refreshHealth();
  try { await refreshJobs(); } catch (e) { document.getElementById("solve-status").textContent = "error: " + e.message; }
  const status = document.getElementById("solve-status");
  if (status.dataset.jobId) {
    const row = document.querySelector(`#jobs-table tr[data-job-id="${status.dataset.jobId}"]`);
    if (row) status.textContent = `job ${status.dataset.jobId} ${row.dataset.status}`;
  }
}

document.getElementById("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.key = document.getElementById("api-key").value.trim();
  sessionStorage.setItem("qservice-key", state.key);
  tick();
});
document.getElementById("solve-form").addEventListener("submit", startSolve);
tick();
setInterval(tick, 1000);

// The Pulse board: a snapshot from GET /api/pulse, then live events of the `pulse` topic
// over the WebSocket (/ws/), resumed after a drop from the last event id seen.
// Token names and symbols come from anyone who launches a coin: only textContent, never HTML.
"use strict";

const COLUMNS = ["new", "final", "migrated"];
const MAX_ROWS = 100;
const tokens = new Map(); // mint -> {data, row}
let lastId = null;
let socket = null;
let retryMs = 500;

const statusEl = document.getElementById("status");
const template = document.getElementById("token-row");

function setStatus(state, text) {
  statusEl.dataset.state = state;
  statusEl.textContent = text;
}

function formatSol(value) {
  const n = Number(value);
  if (!Number.isFinite(n)) return "–";
  return n >= 1000 ? `${(n / 1000).toFixed(1)}K SOL` : `${n.toFixed(2)} SOL`;
}

function formatAge(createdAt) {
  if (!createdAt) return "";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(createdAt)) / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h`;
}

function render(entry) {
  const { data, row } = entry;
  row.dataset.mint = data.mint;
  row.dataset.column = data.column;
  row.querySelector(".symbol").textContent = data.symbol || "?";
  row.querySelector(".name").textContent = data.name || data.mint;
  row.querySelector(".age").textContent = formatAge(data.created_at);
  row.querySelector(".mcap").textContent = `MC ${formatSol(data.market_cap_sol)}`;
  const holders = data.holders === null || data.holders === undefined ? "–" : data.holders;
  row.querySelector(".holders").textContent = `${holders} holders`;
  const pct = Math.min(100, Math.max(0, Number(data.progress_pct) || 0));
  row.querySelector(".pct").textContent = `${pct.toFixed(1)}%`;
  row.querySelector(".bar").style.width = `${pct}%`;
}

function flash(row) {
  row.classList.add("flash");
  requestAnimationFrame(() => requestAnimationFrame(() => row.classList.remove("flash")));
}

function place(entry) {
  const list = document.getElementById(`column-${entry.data.column}`);
  if (!list) return;
  if (entry.row.parentElement !== list) list.prepend(entry.row);
  while (list.children.length > MAX_ROWS) {
    const dropped = list.lastElementChild;
    tokens.delete(dropped.dataset.mint);
    dropped.remove();
  }
}

function updateCounts() {
  for (const column of COLUMNS) {
    document.querySelector(`[data-count="${column}"]`).textContent =
      document.getElementById(`column-${column}`).children.length;
  }
}

function upsert(data, isChange) {
  if (!data || typeof data.mint !== "string" || !COLUMNS.includes(data.column)) return;
  let entry = tokens.get(data.mint);
  if (!entry) {
    entry = { data, row: template.content.firstElementChild.cloneNode(true) };
    tokens.set(data.mint, entry);
  } else {
    entry.data = { ...entry.data, ...data };
  }
  render(entry);
  place(entry);
  if (isChange) flash(entry.row);
}

async function loadSnapshot() {
  const response = await fetch("/api/pulse", { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`GET /api/pulse: ${response.status}`);
  const body = await response.json();
  for (const list of document.querySelectorAll(".tokens")) list.replaceChildren();
  tokens.clear();
  for (const column of COLUMNS) {
    // Oldest first, so prepending leaves the newest on top.
    for (const token of [...(body.columns[column] || [])].reverse()) upsert(token, false);
  }
  updateCounts();
}

function onEvent(message) {
  if (message.type === "replay.truncated") {
    // Some events are gone from the stream: start over from a fresh snapshot.
    lastId = null;
    loadSnapshot().catch(() => {});
    return;
  }
  lastId = message.id;
  upsert(message.data, true);
  updateCounts();
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/`);
  socket.onopen = () => {
    const frame = { op: "subscribe", topics: ["pulse"] };
    if (lastId) frame.last_ids = { pulse: lastId };
    socket.send(JSON.stringify(frame));
  };
  socket.onmessage = (message) => {
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    if (frame.topic === "pulse" && frame.id) {
      onEvent(frame);
    } else if (frame.type === "ping") {
      socket.send(JSON.stringify({ op: "pong" }));
    } else if (frame.type === "subscribed") {
      retryMs = 500;
      setStatus("live", "live");
    } else if (frame.type === "error") {
      setStatus("reconnecting", `error: ${frame.error.message}`);
    }
  };
  socket.onclose = () => {
    setStatus("reconnecting", "reconnecting…");
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 10000);
  };
}

setInterval(() => {
  for (const entry of tokens.values()) {
    entry.row.querySelector(".age").textContent = formatAge(entry.data.created_at);
  }
}, 1000);

loadSnapshot()
  .catch((error) => setStatus("reconnecting", String(error)))
  .finally(connect);

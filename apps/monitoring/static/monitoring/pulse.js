// The Pulse board: live events of the `pulse` topic over the WebSocket (/ws/) on top of a
// snapshot from GET /api/pulse, resumed after a drop from the last event id seen.
// Order on a fresh start: subscribe first, then fetch the snapshot, holding the events that
// arrive meanwhile and applying them after it: the snapshot is read from the database, which
// trails the live stream, so nothing published between the two is lost or applied too early.
// Token names and symbols come from anyone who launches a coin: only textContent, never HTML.
"use strict";

const COLUMNS = ["new", "final", "migrated"];
const MAX_ROWS = 100;
const tokens = new Map(); // mint -> {data, row}
let lastId = null; // id of the last `pulse` event applied: sent as last_ids on reconnect
let socket = null;
let retryMs = 500;
let held = null; // events received while a snapshot loads (null: none loading)

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

async function fetchSnapshot() {
  const response = await fetch("/api/pulse", { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`GET /api/pulse: ${response.status}`);
  const body = await response.json();
  for (const list of document.querySelectorAll(".tokens")) list.replaceChildren();
  tokens.clear();
  for (const column of COLUMNS) {
    // Oldest first, so prepending leaves the newest on top.
    for (const token of [...(body.columns[column] || [])].reverse()) upsert(token, false);
  }
}

async function loadSnapshot() {
  if (held) return; // one load at a time; it drains what arrives meanwhile
  held = [];
  try {
    await fetchSnapshot();
  } catch (error) {
    setStatus("error", String(error));
  } finally {
    const pending = held;
    held = null;
    for (const event of pending) apply(event);
    updateCounts();
  }
}

function apply(event) {
  lastId = event.id;
  upsert(event.data, true);
}

function onEvent(event) {
  if (event.type === "replay.truncated") {
    // The stream no longer holds some events after lastId: start over from a snapshot.
    // lastId stays: a drop before the next event resumes there and is told again.
    loadSnapshot();
    return;
  }
  if (held) {
    held.push(event);
    return;
  }
  apply(event);
  updateCounts();
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws/`);
  let resumed = false;
  socket.onopen = () => {
    const frame = { op: "subscribe", topics: ["pulse"] };
    resumed = lastId !== null;
    if (resumed) frame.last_ids = { pulse: lastId };
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
      // A resumed subscription replays what was missed; a fresh one needs the snapshot.
      if (!resumed) loadSnapshot();
    } else if (frame.type === "error") {
      setStatus("error", `error: ${frame.error.message}`);
    }
  };
  socket.onclose = () => {
    setStatus("reconnecting", "reconnecting…");
    // Backoff with jitter, so a restarted server is not hit by every board at once.
    setTimeout(connect, retryMs * (0.5 + Math.random() / 2));
    retryMs = Math.min(retryMs * 2, 10000);
  };
}

setInterval(() => {
  for (const entry of tokens.values()) {
    entry.row.querySelector(".age").textContent = formatAge(entry.data.created_at);
  }
}, 1000);

connect();

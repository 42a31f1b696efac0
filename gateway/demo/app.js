// Herald's demo page (docs/demo.md). Plain browser JavaScript, no framework. Everything a
// notification carries is untrusted: it reaches the page through textContent only, never as markup.
//
// Query parameters prefill the form, and `connect=1` connects at once (the browser tests use them):
//   /?user=alice&groups=ops,sales&transports=sse,long-polling&connect=1

const TRANSPORTS = ["websocket", "sse", "long-polling"];
const MAX_SHOWN = 500;

const $ = (selector) => {
  const element = document.querySelector(selector);
  if (!element) throw new Error(`the page has no ${selector}`);
  return element;
};

const signin = $("#signin");
const publishForm = $("#publish");
const stateOut = $("#state");
const transportOut = $("#transport");
const userOut = $("#user");
const countOut = $("#count");
const list = $("#notifications");
const logList = $("#log");

/** The client library, loaded on first use so the page still explains itself when it is missing. */
let library;
/** The open connection, if any. */
let herald;
let received = 0;
/** The user id the form signed in as (unknown for a pasted token). */
let signedInUser = "";
/** A dev publisher token and when to fetch a fresh one. */
let publisher = { token: "", renewAt: 0 };

function log(message) {
  const item = document.createElement("li");
  const time = document.createElement("time");
  time.textContent = new Date().toLocaleTimeString();
  item.append(time, " ", String(message));
  logList.prepend(item);
  while (logList.children.length > 100) logList.lastElementChild.remove();
}

function showStatus() {
  const state = herald ? String(herald.state) : "signed out";
  stateOut.textContent = state;
  stateOut.dataset.state = herald ? state : "signed-out";
  transportOut.textContent = herald && herald.transport ? String(herald.transport) : "—";
}

/** Turns a gateway error answer `{ code, message }` into an Error with both. */
async function failure(response) {
  let detail = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && typeof body.code === "string") detail = `${body.code}: ${body.message}`;
  } catch {
    // not JSON: the status line says enough
  }
  return new Error(detail);
}

async function devToken(body) {
  const response = await fetch("/api/dev/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (response.status === 404) {
    throw new Error("dev tokens are off on this gateway (HERALD_DEV_TOKENS): paste a token instead");
  }
  if (!response.ok) throw await failure(response);
  return response.json();
}

function names(text) {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
}

function show(notification) {
  received += 1;
  countOut.textContent = String(received);
  const item = document.createElement("li");
  item.className = "notification";
  item.dataset.id = String(notification.id);
  item.dataset.type = String(notification.type);
  const head = document.createElement("div");
  const type = document.createElement("strong");
  type.className = "type";
  type.textContent = String(notification.type);
  const meta = document.createElement("span");
  meta.className = "meta";
  const ts = Number(notification.ts);
  meta.textContent = ` ${Number.isFinite(ts) ? new Date(ts).toLocaleTimeString() : ""} · ${notification.id}`;
  meta.append(` · via ${herald && herald.transport ? herald.transport : "?"}`);
  head.append(type, meta);
  const data = document.createElement("pre");
  data.className = "data";
  data.textContent = JSON.stringify(notification.data, null, 2) ?? "undefined";
  item.append(head, data);
  list.prepend(item);
  while (list.children.length > MAX_SHOWN) list.lastElementChild.remove();
}

async function connectAs(form) {
  const user = form.get("user").trim();
  const groups = names(form.get("groups"));
  const jwt = form.get("jwt").trim();
  const transports = names(form.get("transport")).filter((t) => TRANSPORTS.includes(t));
  disconnect();
  if (!library) {
    try {
      library = await import("/herald.js");
    } catch (err) {
      log(`the client library /herald.js did not load: ${err.message}`);
      return;
    }
  }
  // Called again by the library whenever it needs a fresh token (expiry, reconnect).
  const token = jwt ? () => jwt : async () => (await devToken({ userId: user, groups })).token;
  const options = { gateway: location.origin, token };
  if (transports.length > 0) options.transports = transports;
  herald = library.connect(options);
  signedInUser = jwt ? "" : user;
  userOut.textContent = jwt ? "(your token)" : user;
  herald.on("state", (state) => {
    // The gateway says who a pasted token is for.
    if (herald && herald.userId && !signedInUser) {
      signedInUser = herald.userId;
      userOut.textContent = herald.userId;
    }
    showStatus();
    log(`state ${state}${herald && herald.transport ? ` (${herald.transport})` : ""}`);
  });
  herald.on("transport", (transport) => {
    showStatus();
    if (transport) log(`transport ${transport}`);
  });
  herald.on("*", (notification) => show(notification));
  herald.on("error", (err) => log(`error: ${err && err.message ? err.message : String(err)}`));
  herald.on("not-recovered", (info) =>
    log(`some notifications could not be recovered: ${JSON.stringify(info)}`),
  );
  $("#connect").disabled = true;
  $("#disconnect").disabled = false;
  log(`connecting as ${jwt ? "the pasted token" : user} over ${transports.join(", ") || "any transport"}`);
  showStatus();
}

function disconnect() {
  if (!herald) return;
  herald.close();
  herald = undefined;
  userOut.textContent = "—";
  $("#connect").disabled = false;
  $("#disconnect").disabled = true;
  showStatus();
  log("disconnected");
}

async function publisherAuthorization(key) {
  if (key) return `Bearer ${key}`;
  if (Date.now() >= publisher.renewAt) {
    const answer = await devToken({ userId: "demo-publisher", publish: true });
    // Renew a minute before the token's own expiry.
    publisher = { token: answer.token, renewAt: Date.parse(answer.expiresAt) - 60_000 };
  }
  return `Bearer ${publisher.token}`;
}

async function publish(form) {
  const out = $("#published");
  let data;
  try {
    data = JSON.parse(form.get("data"));
  } catch (err) {
    out.textContent = `the data is not JSON: ${err.message}`;
    return;
  }
  const name = form.get("name").trim();
  const to = {
    me: () => ({ users: [signedInUser || name || String(new FormData(signin).get("user")).trim()] }),
    user: () => ({ users: [name] }),
    group: () => ({ groups: [name] }),
    broadcast: () => ({ broadcast: true }),
  }[form.get("to")]();
  const response = await fetch("/api/notifications", {
    method: "POST",
    headers: {
      authorization: await publisherAuthorization(form.get("key").trim()),
      "content-type": "application/json",
    },
    body: JSON.stringify({ type: form.get("type").trim(), to, data }),
  });
  if (!response.ok) throw await failure(response);
  const { ids } = await response.json();
  out.textContent = `published ${ids.join(", ")}`;
  log(`published ${ids.join(", ")}`);
}

signin.addEventListener("submit", (event) => {
  event.preventDefault();
  connectAs(new FormData(signin)).catch((err) => log(`connect failed: ${err.message}`));
});
$("#disconnect").addEventListener("click", () => disconnect());
publishForm.addEventListener("submit", (event) => {
  event.preventDefault();
  publish(new FormData(publishForm)).catch((err) => {
    $("#published").textContent = `publish failed: ${err.message}`;
    log(`publish failed: ${err.message}`);
  });
});

const params = new URLSearchParams(location.search);
for (const [param, field] of [
  ["user", "user"],
  ["groups", "groups"],
  ["transports", "transport"],
]) {
  const value = params.get(param);
  if (value === null) continue;
  const input = signin.elements.namedItem(field);
  if (input instanceof HTMLSelectElement && ![...input.options].some((o) => o.value === value)) {
    input.add(new Option(value, value));
  }
  input.value = value;
}
if (params.get("connect") === "1") {
  connectAs(new FormData(signin)).catch((err) => log(`connect failed: ${err.message}`));
}

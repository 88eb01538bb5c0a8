// The chatd console: a small client of the WebSocket protocol (../shared/spec), written the
// way any frontend would be. Every frame in and out is shown in the side panel.
//
// Error attribution: the server handles one connection's events strictly in order and sends
// all frames of an event before it reads the next one (messages.md §1.5). So after each event
// the console sends a heartbeat as a fence: an error frame that arrives before that fence's
// {"status": "success"} belongs to that event. An event answered with "invalid event type" is
// not implemented by this server (yet); the console stops sending it on its own and says so.
(() => {
  "use strict";

  const meta = (name) => document.querySelector(`meta[name="${name}"]`).content;
  const WS_PATH = meta("chatd-websocket-path");
  const USER_ID_CLAIM = meta("chatd-user-id-claim");
  const HEARTBEAT_MS = Math.max(1000, Number(meta("chatd-heartbeat-seconds")) * 1000);
  const DEV_TOKENS = meta("chatd-dev-tokens") === "on";
  const REACTIONS = ["👍", "❤️", "😂"];
  const NAMES = ["alice", "bob", "carol", "dave", "eve", "frank", "grace", "heidi"];
  const MAX_FRAMES = 400;
  const MAX_NOTICES = 5;
  const TYPING_SEND_MS = 2000;
  const TYPING_SHOW_MS = 3500;

  const $ = (id) => document.getElementById(id);

  /** A DOM element; strings become text nodes (never HTML). */
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "class") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node[key] = value;
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const state = {
    ws: null,
    token: null,
    me: null, // {id, username}
    rooms: new Map(), // room id -> the latest list entry / detail, merged
    messages: new Map(), // room id -> Map(message id -> message)
    rendered: new Map(), // message id -> {key, node}: see renderedMessage
    unread: new Map(), // room id -> count
    active: null,
    replyTo: null,
    creating: false,
    unsupported: new Set(),
    pending: [], // {type, quiet} of the events sent and not yet fenced, in order
    readSent: new Set(),
    typing: new Map(), // room id ("" when the dispatch names none) -> {username, until}
    lastTypingSent: 0,
    heartbeat: null,
  };

  // ---- connection ---------------------------------------------------------------------------

  function claimsOf(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const json = decodeURIComponent(
        Array.from(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")))
          .map((c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0"))
          .join(""),
      );
      const claims = JSON.parse(json);
      return { id: Number(claims[USER_ID_CLAIM]), username: claims.username || null };
    } catch {
      return { id: NaN, username: null };
    }
  }

  function connect(token) {
    disconnect();
    state.token = token.trim();
    state.me = claimsOf(state.token);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${scheme}//${location.host}${WS_PATH}?token=${encodeURIComponent(state.token)}`;
    setStatus("connecting…", "offline");
    const ws = new WebSocket(url);
    state.ws = ws;
    ws.addEventListener("open", () => {
      sessionStorage.setItem("chatd-console-token", state.token);
      setStatus(`connected as ${state.me.username || "user " + state.me.id} (#${state.me.id})`, "online");
      $("login").hidden = true;
      $("app").hidden = false;
      $("disconnect").hidden = false;
      send("room.list", {});
      state.heartbeat = setInterval(() => send("session.heartbeat", {}), HEARTBEAT_MS);
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        logFrame("in", event.data, "not JSON");
        return;
      }
      logFrame("in", frame);
      try {
        handleFrame(frame);
      } catch (err) {
        notice(`The console could not show a ${frame.eventType || "frame"}: ${err.message}`);
      }
    });
    ws.addEventListener("close", (event) => {
      if (state.ws !== ws) return;
      clearInterval(state.heartbeat);
      state.ws = null;
      state.pending = [];
      const reason = event.reason ? ` ${event.reason}` : "";
      setStatus(`closed: ${event.code}${reason}`, "closed");
      $("disconnect").hidden = true;
      $("login").hidden = false;
      $("token-input").value = state.token;
      if (event.code === 4001) sessionStorage.removeItem("chatd-console-token");
      renderComposer();
    });
  }

  function disconnect() {
    if (!state.ws) return;
    const ws = state.ws;
    state.ws = null;
    clearInterval(state.heartbeat);
    ws.close(1000, "bye");
    state.rooms.clear();
    state.messages.clear();
    state.rendered.clear();
    state.unread.clear();
    state.readSent.clear();
    state.active = null;
    state.pending = [];
    setStatus("not connected", "offline");
    $("disconnect").hidden = true;
    $("login").hidden = false;
    $("app").hidden = true;
    renderAll();
  }

  function setStatus(text, kind) {
    $("status").textContent = text;
    $("status").dataset.state = kind;
  }

  /** Sends one event, then its fence (see the top of this file). */
  function send(eventType, data, quiet = false) {
    const ws = state.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      notice("Not connected.");
      return;
    }
    const frames = [{ event_type: eventType, data }];
    if (eventType !== "session.heartbeat") frames.push({ event_type: "session.heartbeat", data: {} });
    for (const frame of frames) {
      ws.send(JSON.stringify(frame));
      state.pending.push({ type: frame.event_type, quiet });
      logFrame("out", frame);
    }
  }

  /** Sends an event the console issues on its own (not a click), unless the server does not
   *  implement it; if it turns out not to, the capabilities line says so, without a notice. */
  function sendQuietly(eventType, data) {
    if (!state.unsupported.has(eventType)) send(eventType, data, true);
  }

  // ---- incoming frames ----------------------------------------------------------------------

  function handleFrame(frame) {
    if (frame.status === "success") {
      const fence = state.pending.findIndex((p) => p.type === "session.heartbeat");
      state.pending.splice(0, fence + 1);
      return;
    }
    if (frame.error !== undefined) {
      handleError(frame.error);
      return;
    }
    const data = frame.data;
    switch (frame.eventType) {
      case "chat.notifications":
        return onNotifications(data);
      case "roomlist.dispatch":
        state.rooms.clear();
        for (const room of data) upsertRoom(room);
        return renderAll();
      case "roomcreate.dispatch":
        upsertRoom(data);
        if (state.creating) {
          state.creating = false;
          selectRoom(data.id);
        }
        return renderRooms();
      case "roominfo.dispatch":
      case "roomupdate.dispatch":
        upsertRoom(data);
        return renderAll();
      case "roomaddmembers.dispatch":
      case "roomremovemembers.dispatch":
        upsertRoom(data.room);
        return renderAll();
      case "roomexit.dispatch":
        notice(data.message || "You left a room.");
        return forgetRoom(data.room && data.room.id);
      case "roomdelete.dispatch":
        return forgetRoom(data.room_id);
      case "message.dispatch":
        return onMessage(data);
      case "messagedelivered.dispatch":
        data.forEach(upsertMessage);
        return renderMessages();
      case "readreceipt.dispatch":
        (Array.isArray(data) ? data : [data]).forEach(upsertMessage);
        return renderMessages();
      case "reaction.dispatch":
        if (data.message) upsertMessage(data.message);
        return renderMessages();
      case "messagemodification.dispatch":
        return onModification(data);
      case "messagetyping.dispatch":
        return onTyping(data);
      case "roommessages.dispatch":
        return onHistory(data.data);
      default:
        return undefined; // shown in the frames panel only
    }
  }

  function handleError(error) {
    const sent = state.pending.find((p) => p.type !== "session.heartbeat") || { type: "an event", quiet: false };
    const eventType = sent.type;
    if (eventType === "room.create") state.creating = false;
    if (error === "invalid event type") {
      if (state.unsupported.has(eventType)) return;
      if (eventType !== "an event") state.unsupported.add(eventType);
      renderCapabilities();
      renderMessages();
      if (!sent.quiet) notice(`${eventType}: not implemented by this server yet (it answered "invalid event type").`);
      return;
    }
    const detail = typeof error === "object" && error !== null ? error.detail : error;
    const code = typeof error === "object" && error !== null ? `${error.code} ` : "";
    notice(`${eventType} failed: ${code}${describe(detail)}`);
  }

  function describe(detail) {
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) return detail.join(" ");
    if (detail && typeof detail === "object") {
      return Object.entries(detail)
        .map(([field, texts]) => `${field}: ${[].concat(texts).join(" ")}`)
        .join("; ");
    }
    return JSON.stringify(detail);
  }

  function onNotifications(byRoom) {
    const ids = [];
    for (const [roomId, items] of Object.entries(byRoom || {})) {
      for (const item of items) {
        upsertMessage(item.message);
        ids.push(item.message.id);
      }
      state.unread.set(roomId, (state.unread.get(roomId) || 0) + items.length);
    }
    if (ids.length) sendQuietly("message.acknowledged", { message_id: ids });
    renderAll();
  }

  function onMessage(message) {
    upsertMessage(message);
    const roomId = message.room.id;
    if (!state.rooms.has(roomId)) send("room.list", {});
    const room = state.rooms.get(roomId);
    if (room) room.last_message = message;
    if (!isMine(message)) {
      sendQuietly("message.acknowledged", { message_id: [message.id] });
      if (roomId !== state.active) state.unread.set(roomId, (state.unread.get(roomId) || 0) + 1);
    }
    state.typing.delete(roomId);
    renderRooms();
    renderMessages();
  }

  function onModification(data) {
    if (data.action === "update" && data.message) {
      upsertMessage(data.message);
    } else if (data.action === "delete") {
      for (const messages of state.messages.values()) {
        for (const id of data.message_ids || []) {
          messages.delete(String(id));
          state.rendered.delete(String(id));
        }
      }
    }
    renderMessages();
  }

  function onTyping(data) {
    if (!data || data.username === state.me.username) return;
    state.typing.set(data.room_id || "", { username: data.username, until: Date.now() + TYPING_SHOW_MS });
    renderTyping();
    setTimeout(renderTyping, TYPING_SHOW_MS + 50);
  }

  function onHistory(page) {
    if (!page) return;
    const messages = roomMessages(page.room_id);
    for (const message of page.messages || []) messages.set(message.id, message);
    renderMessages();
  }

  // ---- state --------------------------------------------------------------------------------

  function upsertRoom(room) {
    if (!room || !room.id) return;
    state.rooms.set(room.id, Object.assign(state.rooms.get(room.id) || {}, room));
  }

  function forgetRoom(roomId) {
    state.rooms.delete(roomId);
    state.messages.delete(roomId);
    if (state.active === roomId) state.active = null;
    renderAll();
  }

  function roomMessages(roomId) {
    if (!state.messages.has(roomId)) state.messages.set(roomId, new Map());
    return state.messages.get(roomId);
  }

  function upsertMessage(message) {
    if (!message || !message.id || !message.room) return;
    roomMessages(message.room.id).set(message.id, message);
  }

  const isMine = (message) => message.sender && message.sender.id === state.me.id;

  function roomTitle(room) {
    if (room.type === "OneToOneChat") {
      const peer = room.peer || (room.participants || []).find((u) => u.id !== state.me.id);
      return peer ? peer.username : "one-to-one";
    }
    return room.name || room.type;
  }

  function activity(room) {
    const last = room.last_message;
    return Date.parse((last && last.id && last.created_at) || room.created_at) || 0;
  }

  function selectRoom(roomId) {
    state.active = roomId;
    state.unread.delete(roomId);
    state.replyTo = null;
    sendQuietly("room.messages", { room_id: roomId });
    renderAll();
    $("message-input").focus();
  }

  // ---- rendering ----------------------------------------------------------------------------

  function renderAll() {
    renderRooms();
    renderMessages();
    renderCapabilities();
  }

  function renderRooms() {
    const rooms = [...state.rooms.values()].sort((a, b) => activity(b) - activity(a));
    $("room-list").replaceChildren(
      ...rooms.map((room) => {
        const last = room.last_message && room.last_message.id ? room.last_message : null;
        const unread = state.unread.get(room.id) || 0;
        return el(
          "li",
          {
            class: room.id === state.active ? "active" : "",
            dataset: { roomId: room.id, type: room.type },
            onclick: () => selectRoom(room.id),
          },
          el("span", { class: "room-name" }, roomTitle(room)),
          unread ? el("span", { class: "unread" }, unread) : el("span", { class: "room-kind" }, room.type),
          el("span", { class: "room-last" }, last ? `${last.sender.username}: ${plain(last.content)}` : "no messages yet"),
        );
      }),
    );
  }

  function renderMessages() {
    const room = state.rooms.get(state.active);
    $("room-title").textContent = room ? roomTitle(room) : "No room selected";
    const members = room && (room.participants || room.subscribers);
    $("room-meta").textContent = room
      ? `${room.type}${members ? " · " + members.map((u) => u.username).join(", ") : ""}`
      : "";
    const messages = room ? [...roomMessages(room.id).values()] : [];
    messages.sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || a.created_at.localeCompare(b.created_at));
    const list = $("messages");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    patchChildren(list, messages.map(renderedMessage));
    if (atBottom) list.scrollTop = list.scrollHeight;
    $("empty-hint").textContent = room
      ? "No messages yet: say hello."
      : "Create a one-to-one room with another user id (open a second tab as that user), " +
        "pick it on the left, and say hello.";
    $("empty-hint").hidden = messages.length > 0;
    renderComposer();
    renderTyping();
    markRead(messages);
  }

  /** A message's element, reused while nothing it shows has changed: replacing the element
   *  under the pointer between a button's press and release loses the click, and receipts
   *  re-render the list often. */
  function renderedMessage(message) {
    const key = JSON.stringify([message, isMine(message), state.unsupported.has("message.react")]);
    const cached = state.rendered.get(message.id);
    if (cached && cached.key === key) return cached.node;
    const node = renderMessage(message);
    state.rendered.set(message.id, { key, node });
    return node;
  }

  /** Makes `parent`'s children `nodes`, touching only the positions that differ. */
  function patchChildren(parent, nodes) {
    nodes.forEach((node, i) => {
      const current = parent.children[i];
      if (current !== node) parent.insertBefore(node, current || null);
    });
    while (parent.children.length > nodes.length) parent.lastElementChild.remove();
  }

  function renderMessage(message) {
    const mine = isMine(message);
    const counts = new Map();
    for (const r of message.reactions || []) counts.set(r.reaction_content, (counts.get(r.reaction_content) || 0) + 1);
    const reactDisabled = state.unsupported.has("message.react");
    return el(
      "li",
      { class: `message${mine ? " mine" : ""}`, dataset: { messageId: message.id } },
      el(
        "div",
        { class: "head" },
        el("span", { class: "sender" }, message.sender.username),
        el("time", { dateTime: message.created_at }, new Date(message.created_at).toLocaleTimeString()),
        message.is_edited ? "edited" : null,
        message.is_forwarded ? "forwarded" : null,
      ),
      message.parent_message
        ? el("div", { class: "quote" }, `${message.parent_message.sender.username}: ${plain(message.parent_message.content)}`)
        : null,
      content(message),
      counts.size
        ? el("div", { class: "reactions" }, [...counts].map(([emoji, n]) => el("span", { class: "reaction" }, `${emoji} ${n}`)))
        : null,
      el("div", { class: "state" }, deliveryState(message, mine)),
      el(
        "div",
        { class: "actions" },
        el("button", { type: "button", class: "quiet reply-button", onclick: () => startReply(message) }, "Reply"),
        REACTIONS.map((emoji) =>
          el(
            "button",
            {
              type: "button",
              class: "quiet react-button",
              dataset: { emoji },
              disabled: reactDisabled,
              title: reactDisabled ? "message.react is not implemented by this server yet" : `React ${emoji}`,
              onclick: () => react(message, emoji),
            },
            emoji,
          ),
        ),
      ),
    );
  }

  /** Message content is HTML the server has already sanitised (messages.md §6). */
  function content(message) {
    const node = el("div", { class: "content" });
    node.innerHTML = message.content;
    return node;
  }

  /** Content without markup, for previews. */
  function plain(html) {
    const node = document.createElement("div");
    node.innerHTML = html;
    return node.textContent;
  }

  function deliveryState(message, mine) {
    const readers = (message.read_receipts || []).map((r) => r.reader.username);
    const delivered = message.delivered_to || [];
    const parts = [];
    if (mine) parts.push(delivered.length ? `✓✓ delivered to ${delivered.join(", ")}` : "✓ sent");
    if (readers.length) parts.push(`read by ${readers.join(", ")}`);
    return parts.join(" · ");
  }

  function renderComposer() {
    const usable = Boolean(state.ws && state.active);
    $("message-input").disabled = !usable;
    $("send").disabled = !usable;
    const reply = state.replyTo;
    $("reply-preview").hidden = !reply;
    $("reply-text").textContent = reply ? `Replying to ${reply.sender.username}: ${plain(reply.content)}` : "";
  }

  function renderTyping() {
    const now = Date.now();
    const typists = [];
    for (const [roomId, entry] of state.typing) {
      if (entry.until < now) state.typing.delete(roomId);
      else if (roomId === "" || roomId === state.active) typists.push(entry.username);
    }
    $("typing").textContent = typists.length ? `${typists.join(", ")} ${typists.length > 1 ? "are" : "is"} typing…` : "";
  }

  function renderCapabilities() {
    const missing = [...state.unsupported].sort();
    $("capabilities").hidden = missing.length === 0;
    $("capabilities").textContent = `Not implemented by this server yet: ${missing.join(", ")}`;
  }

  function notice(text) {
    const box = $("notices");
    const item = el("div", { class: "notice", role: "status" }, el("span", {}, text));
    item.append(el("button", { type: "button", class: "quiet", title: "Dismiss", onclick: () => item.remove() }, "×"));
    box.append(item);
    while (box.children.length > MAX_NOTICES) box.firstElementChild.remove();
  }

  function logFrame(direction, frame, note) {
    const name =
      typeof frame === "string"
        ? note
        : frame.event_type || frame.eventType || (frame.error !== undefined ? "error" : frame.status ? "heartbeat ack" : "frame");
    const heartbeat = name === "session.heartbeat" || name === "heartbeat ack";
    const item = el(
      "li",
      { class: `frame ${direction}${frame && frame.error !== undefined ? " error" : ""}${heartbeat ? " heartbeat" : ""}` },
      el(
        "div",
        { class: "line" },
        el("span", { class: "dir" }, direction === "out" ? "→" : "←"),
        el("span", { class: "name" }, name),
        el("span", { class: "time" }, new Date().toLocaleTimeString()),
      ),
      el("pre", {}, typeof frame === "string" ? frame : JSON.stringify(frame, null, 2)),
    );
    const list = $("frames");
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(item);
    while (list.children.length > MAX_FRAMES) list.firstElementChild.remove();
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  // ---- actions ------------------------------------------------------------------------------

  function markRead(messages) {
    if (!state.active || document.visibilityState !== "visible" || state.unsupported.has("message.read")) return;
    const unread = messages.filter(
      (m) =>
        !isMine(m) &&
        !state.readSent.has(m.id) &&
        !(m.read_receipts || []).some((r) => r.reader.id === state.me.id),
    );
    if (!unread.length) return;
    unread.forEach((m) => state.readSent.add(m.id));
    sendQuietly("message.read", { message_id: unread.map((m) => m.id) });
  }

  function startReply(message) {
    state.replyTo = message;
    renderComposer();
    $("message-input").focus();
  }

  function react(message, emoji) {
    const mineAlready = (message.reactions || []).some(
      (r) => r.user.id === state.me.id && r.reaction_content === emoji,
    );
    send(
      "message.react",
      mineAlready
        ? { type: "remove", message_id: message.id }
        : { type: "add", message_id: message.id, reaction_content: emoji },
    );
  }

  function sendMessage(text) {
    const data = { room_id: state.active, content: text };
    if (state.replyTo) data.extra_fields = { parent_message_id: state.replyTo.id };
    send("message.send", data);
    state.replyTo = null;
    renderComposer();
  }

  function createRoom() {
    const type = $("create-type").value;
    const ids = $("create-members")
      .value.split(/[\s,]+/)
      .filter(Boolean)
      .map((v) => (/^\d+$/.test(v) ? Number(v) : v));
    const data = { type };
    if (type === "OneToOneChat") data.participants = ids;
    if (type === "GroupChat") Object.assign(data, { name: $("create-name").value, participants: ids });
    if (type === "Channel") {
      Object.assign(data, {
        name: $("create-name").value,
        subscribers: ids,
        extra_fields: { is_public: $("create-public").checked },
      });
    }
    state.creating = true;
    send("room.create", data);
  }

  function renderCreateForm() {
    const type = $("create-type").value;
    $("create-name-label").hidden = type === "OneToOneChat";
    $("create-public-label").hidden = type !== "Channel";
    $("create-members-caption").textContent =
      type === "OneToOneChat" ? "With user id" : type === "GroupChat" ? "Participant ids" : "Subscriber ids";
  }

  async function mintAndConnect() {
    const userId = Number($("dev-user-id").value);
    const username = $("dev-username").value.trim();
    const response = await fetch("/console/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user_id: userId, username: username || null }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok || !body.token) {
      setStatus(`could not mint a token: ${body.error || response.status}`, "closed");
      return;
    }
    localStorage.setItem("chatd-console-last-user", String(userId));
    connect(body.token);
  }

  // ---- wiring -------------------------------------------------------------------------------

  $("dev-login").hidden = !DEV_TOKENS;
  // Each tab offers the user after the last one started in any tab: alice, then bob, …
  const suggestUser = () => {
    const next = Number(localStorage.getItem("chatd-console-last-user") || 0) + 1;
    $("dev-user-id").value = next;
    $("dev-username").value = NAMES[next - 1] || `user${next}`;
  };
  suggestUser();
  window.addEventListener("storage", (e) => {
    if (e.key === "chatd-console-last-user" && !state.ws) suggestUser();
  });
  $("dev-user-id").addEventListener("input", () => {
    const id = Number($("dev-user-id").value);
    $("dev-username").value = NAMES[id - 1] || `user${id}`;
  });
  $("dev-login").addEventListener("submit", (e) => {
    e.preventDefault();
    mintAndConnect().catch((err) => setStatus(`could not mint a token: ${err.message}`, "closed"));
  });
  $("token-login").addEventListener("submit", (e) => {
    e.preventDefault();
    connect($("token-input").value);
  });
  $("disconnect").addEventListener("click", disconnect);
  $("refresh-rooms").addEventListener("click", () => send("room.list", {}));
  $("create-type").addEventListener("change", renderCreateForm);
  $("create-room").addEventListener("submit", (e) => {
    e.preventDefault();
    createRoom();
  });
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("message-input").value;
    if (!text.trim() || !state.active) return;
    $("message-input").value = "";
    sendMessage(text);
  });
  $("message-input").addEventListener("input", () => {
    if (!state.active || Date.now() - state.lastTypingSent < TYPING_SEND_MS) return;
    state.lastTypingSent = Date.now();
    sendQuietly("message.typing", { room_id: state.active });
  });
  $("reply-cancel").addEventListener("click", () => {
    state.replyTo = null;
    renderComposer();
  });
  $("show-heartbeats").addEventListener("change", (e) => {
    $("frames").classList.toggle("hide-heartbeats", !e.target.checked);
  });
  $("clear-frames").addEventListener("click", () => $("frames").replaceChildren());
  document.addEventListener("visibilitychange", () => renderMessages());
  renderCreateForm();

  const saved = sessionStorage.getItem("chatd-console-token");
  if (saved) connect(saved);
})();

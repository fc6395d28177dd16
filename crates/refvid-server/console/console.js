// refvid console: a small client of this server's own API (no libraries, no build step).
//
// The API key lives in localStorage and is only ever sent in the Authorization header of
// requests to this origin. Everything else (subjects, images) stays in memory until submitted.
"use strict";

(() => {
  const KEY_STORE = "refvid.console.key";
  const TASK_STORE = "refvid.console.tasks";
  const MAX_SUBJECTS = 7;
  const MAX_IMAGES_PER_SUBJECT = 3;
  const MAX_IMAGES = 7;
  const MAX_IMAGE_BYTES = 20 * 1024 * 1024;
  const MAX_RECENT = 20;
  const TYPES = ["image/png", "image/jpeg", "image/webp"];
  const TERMINAL = ["TASK_STATUS_SUCCEED", "TASK_STATUS_FAILED"];
  const SUBMIT_PATH = "/v3/async/viduq2-pro-fast";
  const RESULT_PATH = "/v3/async/task-result";
  const CANCEL_PATH = "/v3/async/task-cancel";

  const $ = (id) => document.getElementById(id);
  const el = (tag, props = {}, children = []) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k in node && typeof v !== "string") node[k] = v;
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  };

  const storage = {
    get(name, fallback) {
      try {
        const v = localStorage.getItem(name);
        return v === null ? fallback : JSON.parse(v);
      } catch {
        return fallback;
      }
    },
    set(name, value) {
      try {
        localStorage.setItem(name, JSON.stringify(value));
      } catch {
        /* storage full or disabled: the console still works for this page */
      }
    },
    remove(name) {
      try {
        localStorage.removeItem(name);
      } catch {
        /* ignore */
      }
    },
  };

  // ---------------------------------------------------------------- state
  let uid = 0;
  const state = {
    mode: "subjects",
    subjects: [],
    images: [],
    selected: null, // task id shown in the task panel
    pollTimer: null,
    recentTimer: null,
    shownVideoFor: null,
    tasks: storage.get(TASK_STORE, []),
  };

  // ---------------------------------------------------------------- API
  const apiKey = () => $("api-key").value.trim();

  async function api(method, path, body) {
    const headers = { Authorization: "Bearer " + apiKey() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
        referrerPolicy: "no-referrer",
      });
    } catch {
      return { ok: false, status: 0, doc: null, message: "Could not reach the server." };
    }
    let doc = null;
    try {
      doc = await response.json();
    } catch {
      /* not JSON */
    }
    const message =
      (doc && typeof doc.message === "string" && doc.message) ||
      `The server answered HTTP ${response.status}.`;
    return {
      ok: response.ok,
      status: response.status,
      doc,
      message,
      retryAfter: Number(response.headers.get("retry-after")) || 0,
    };
  }

  // ---------------------------------------------------------------- key
  function initKey() {
    const input = $("api-key");
    input.value = storage.get(KEY_STORE, "");
    $("key-form").addEventListener("submit", (e) => e.preventDefault());
    input.addEventListener("input", () => {
      clearInvalid(input);
      const key = apiKey();
      if (key) storage.set(KEY_STORE, key);
      else storage.remove(KEY_STORE);
      $("key-note").textContent = key
        ? "Saved in this browser only; sent only to this server."
        : "Kept in this browser only and sent only to this server.";
    });
    input.addEventListener("change", () => refreshRecent(true));
    $("forget-key").addEventListener("click", () => {
      storage.remove(KEY_STORE);
      storage.remove(TASK_STORE);
      input.value = "";
      state.tasks = [];
      selectTask(null);
      renderRecent();
      $("key-note").textContent = "Key and task list forgotten by this browser.";
      input.focus();
    });
  }

  // ---------------------------------------------------------------- images
  function readImage(file) {
    return new Promise((resolve, reject) => {
      if (!TYPES.includes(file.type)) {
        reject(new Error(`${file.name} is not a PNG, JPEG or WebP image.`));
        return;
      }
      if (file.size > MAX_IMAGE_BYTES) {
        reject(new Error(`${file.name} is larger than 20 MiB.`));
        return;
      }
      const reader = new FileReader();
      reader.onload = () => resolve({ name: file.name, dataUri: reader.result });
      reader.onerror = () => reject(new Error(`${file.name} could not be read.`));
      reader.readAsDataURL(file);
    });
  }

  const totalImages = () =>
    state.mode === "subjects"
      ? state.subjects.reduce((n, s) => n + s.images.length, 0)
      : state.images.length;

  // Reads the files into `list` (at most `limit` in it and MAX_IMAGES in the request).
  async function addFiles(files, list, limit, render) {
    const problems = [];
    for (const file of Array.from(files)) {
      if (list.length >= limit) {
        problems.push(`At most ${limit} images here; ${file.name} was left out.`);
        continue;
      }
      if (totalImages() >= MAX_IMAGES) {
        problems.push(`At most ${MAX_IMAGES} images in one request; ${file.name} was left out.`);
        continue;
      }
      try {
        list.push(await readImage(file));
      } catch (e) {
        problems.push(e.message);
      }
      render();
    }
    render();
    showNote(problems.join(" "));
  }

  function renderThumbs(container, images, fieldPrefix, owner, onRemove) {
    container.replaceChildren(
      ...images.map((img, j) =>
        el("div", { class: "thumb", "data-field": `${fieldPrefix}[${j}]` }, [
          el("img", { src: img.dataUri, alt: img.name }),
          el("button", {
            type: "button",
            text: "×",
            title: "Remove image",
            "aria-label": `Remove image ${j + 1} of ${owner}`,
            onclick: () => onRemove(j),
          }),
        ]),
      ),
    );
  }

  function wireDrop(zone, onFiles) {
    zone.addEventListener("dragover", (e) => {
      e.preventDefault();
      zone.classList.add("over");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      if (e.dataTransfer && e.dataTransfer.files.length) onFiles(e.dataTransfer.files);
    });
  }

  // ---------------------------------------------------------------- subjects
  function addSubject() {
    if (state.subjects.length >= MAX_SUBJECTS) return;
    state.subjects.push({ uid: ++uid, name: "", voice: "", images: [] });
    renderSubjects();
    const inputs = document.querySelectorAll(".subject-name");
    if (state.subjects.length > 1) inputs[inputs.length - 1].focus();
  }

  function renderSubjects() {
    const list = $("subject-list");
    const template = $("subject-template");
    list.replaceChildren();
    state.subjects.forEach((subject, i) => {
      const node = template.content.firstElementChild.cloneNode(true);
      const path = `subjects[${i}]`;
      const owner = () => subject.name.trim() || `subject ${i + 1}`;
      node.dataset.field = path;
      node.setAttribute("aria-label", `Subject ${i + 1}`);
      const [nameLabel, voiceLabel] = node.querySelectorAll(".subject-head label");
      const name = node.querySelector(".subject-name");
      const voice = node.querySelector(".subject-voice");
      name.id = `subject-name-${subject.uid}`;
      voice.id = `subject-voice-${subject.uid}`;
      nameLabel.htmlFor = name.id;
      voiceLabel.htmlFor = voice.id;
      name.value = subject.name;
      voice.value = subject.voice;
      name.dataset.field = `${path}.name`;
      voice.dataset.field = `${path}.voice_id`;
      name.addEventListener("input", () => {
        subject.name = name.value;
        clearInvalid(name);
        remove.setAttribute("aria-label", `Remove subject ${owner()}`);
      });
      voice.addEventListener("input", () => {
        subject.voice = voice.value;
        clearInvalid(voice);
      });
      const remove = node.querySelector(".remove-subject");
      remove.setAttribute("aria-label", `Remove subject ${owner()}`);
      remove.disabled = state.subjects.length === 1;
      remove.addEventListener("click", () => {
        state.subjects.splice(i, 1);
        renderSubjects();
      });
      const drop = node.querySelector(".drop");
      drop.dataset.field = `${path}.images`;
      const thumbs = node.querySelector(".thumbs");
      const files = node.querySelector(".subject-files");
      files.id = `subject-files-${subject.uid}`;
      files.setAttribute("aria-label", `Add images for subject ${i + 1}`);
      const draw = () =>
        renderThumbs(thumbs, subject.images, `${path}.images`, owner(), (j) => {
          subject.images.splice(j, 1);
          draw();
        });
      const take = (fileList) => {
        clearInvalid(drop);
        addFiles(fileList, subject.images, MAX_IMAGES_PER_SUBJECT, draw);
      };
      files.addEventListener("change", () => {
        take(files.files);
        files.value = "";
      });
      wireDrop(drop, take);
      draw();
      list.append(node);
    });
    $("add-subject").disabled = state.subjects.length >= MAX_SUBJECTS;
  }

  function initImagesMode() {
    const zone = document.querySelector('[data-drop="images"]');
    const thumbs = document.querySelector('[data-thumbs="images"]');
    const input = $("images-input");
    const draw = () =>
      renderThumbs(thumbs, state.images, "images", "the request", (j) => {
        state.images.splice(j, 1);
        draw();
      });
    const take = (files) => {
      clearInvalid(zone);
      addFiles(files, state.images, MAX_IMAGES, draw);
    };
    input.addEventListener("change", () => {
      take(input.files);
      input.value = "";
    });
    wireDrop(zone, take);
    zone.dataset.field = "images";
  }

  function setMode(mode) {
    state.mode = mode;
    $("subjects").hidden = mode !== "subjects";
    $("images-mode").hidden = mode !== "images";
  }

  // ---------------------------------------------------------------- @ mentions
  const mention = { open: false, start: 0, items: [], active: 0 };

  function mentionCandidates() {
    if (state.mode === "images") {
      return state.images.map((img, i) => ({ insert: String(i + 1), label: `image ${i + 1}`, thumb: img.dataUri }));
    }
    return state.subjects
      .filter((s) => s.name.trim())
      .map((s) => ({ insert: s.name.trim(), label: s.name.trim(), thumb: s.images[0] && s.images[0].dataUri }));
  }

  // The `@word` being typed just before the caret, if any.
  function mentionQuery(textarea) {
    const upto = textarea.value.slice(0, textarea.selectionStart);
    const match = /(^|[^\p{L}\p{N}])@([^\s@]*)$/u.exec(upto);
    if (!match || textarea.selectionStart !== textarea.selectionEnd) return null;
    return { start: upto.length - match[2].length - 1, text: match[2] };
  }

  function updateMentions() {
    const textarea = $("prompt");
    const query = mentionQuery(textarea);
    if (!query) return closeMentions();
    const q = query.text.toLowerCase();
    const all = mentionCandidates();
    const items = [
      ...all.filter((c) => c.insert.toLowerCase().startsWith(q)),
      ...all.filter((c) => !c.insert.toLowerCase().startsWith(q) && c.insert.toLowerCase().includes(q)),
    ];
    if (!items.length) return closeMentions();
    const sameList =
      mention.open && items.length === mention.items.length && items.every((c, i) => c.insert === mention.items[i].insert);
    mention.open = true;
    mention.start = query.start;
    mention.items = items;
    if (!sameList) mention.active = 0;
    renderMentions();
    placeMentions(textarea, query.start);
  }

  function renderMentions() {
    const list = $("mention-list");
    list.replaceChildren(
      ...mention.items.map((c, i) => {
        const option = el("li", {
          id: `mention-${i}`,
          role: "option",
          "aria-selected": String(i === mention.active),
          "data-insert": c.insert,
        });
        if (c.thumb) option.append(el("img", { src: c.thumb, alt: "" }));
        option.append(el("span", { text: c.label }));
        option.addEventListener("mousedown", (e) => e.preventDefault());
        option.addEventListener("click", () => chooseMention(i));
        return option;
      }),
    );
    list.hidden = false;
    const textarea = $("prompt");
    textarea.setAttribute("aria-expanded", "true");
    textarea.setAttribute("aria-activedescendant", `mention-${mention.active}`);
    const active = list.children[mention.active];
    if (active) active.scrollIntoView({ block: "nearest" });
  }

  function closeMentions() {
    mention.open = false;
    $("mention-list").hidden = true;
    const textarea = $("prompt");
    textarea.setAttribute("aria-expanded", "false");
    textarea.removeAttribute("aria-activedescendant");
  }

  function chooseMention(i) {
    const textarea = $("prompt");
    const choice = mention.items[i];
    if (!choice) return;
    const before = textarea.value.slice(0, mention.start);
    const after = textarea.value.slice(textarea.selectionStart);
    const spacer = /^[\s.,;:!?)]/.test(after) ? "" : " ";
    const inserted = `@${choice.insert}${spacer}`;
    textarea.value = before + inserted + after;
    const caret = before.length + inserted.length;
    textarea.setSelectionRange(caret, caret);
    closeMentions();
    textarea.focus();
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // Puts the list under the caret (a hidden mirror of the textarea measures where it is).
  function placeMentions(textarea, position) {
    const style = getComputedStyle(textarea);
    const mirror = document.createElement("div");
    for (const p of [
      "boxSizing", "width", "borderTopWidth", "borderRightWidth", "borderBottomWidth", "borderLeftWidth",
      "paddingTop", "paddingRight", "paddingBottom", "paddingLeft", "fontFamily", "fontSize", "fontWeight",
      "fontStyle", "letterSpacing", "lineHeight", "textTransform", "wordSpacing", "tabSize",
    ]) {
      mirror.style[p] = style[p];
    }
    mirror.style.position = "absolute";
    mirror.style.visibility = "hidden";
    mirror.style.whiteSpace = "pre-wrap";
    mirror.style.overflowWrap = "break-word";
    mirror.style.top = "0";
    mirror.style.left = "0";
    mirror.textContent = textarea.value.slice(0, position);
    const marker = el("span", { text: "@" });
    mirror.append(marker);
    textarea.parentNode.append(mirror);
    const lineHeight = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.45;
    const list = $("mention-list");
    const maxLeft = Math.max(0, textarea.clientWidth - list.offsetWidth);
    list.style.left = `${Math.min(marker.offsetLeft, maxLeft)}px`;
    list.style.top = `${Math.min(marker.offsetTop - textarea.scrollTop, textarea.clientHeight) + lineHeight + 4}px`;
    mirror.remove();
  }

  function initPrompt() {
    const textarea = $("prompt");
    const count = () => {
      $("prompt-count").textContent = String([...textarea.value].length);
    };
    textarea.addEventListener("input", () => {
      clearInvalid(textarea);
      count();
      updateMentions();
    });
    textarea.addEventListener("click", updateMentions);
    textarea.addEventListener("blur", closeMentions);
    textarea.addEventListener("keydown", (e) => {
      if (!mention.open) return;
      const n = mention.items.length;
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        mention.active = (mention.active + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
        renderMentions();
      } else if (e.key === "Enter" || e.key === "Tab") {
        e.preventDefault();
        chooseMention(mention.active);
      } else if (e.key === "Escape") {
        e.preventDefault();
        closeMentions();
      }
    });
    textarea.addEventListener("keyup", (e) => {
      if (e.key === "ArrowLeft" || e.key === "ArrowRight" || e.key === "Home" || e.key === "End") updateMentions();
    });
    count();
  }

  // ---------------------------------------------------------------- errors
  function clearInvalid(node) {
    if (!node) return;
    node.classList.remove("invalid");
    node.removeAttribute("aria-invalid");
  }

  function clearErrors() {
    $("form-error").hidden = true;
    $("form-error").replaceChildren();
    for (const node of document.querySelectorAll(".invalid")) clearInvalid(node);
  }

  // The element showing `field` (a path such as `subjects[1].images[0]`), or the nearest parent.
  function fieldElement(field) {
    let path = field;
    while (path) {
      const node = document.querySelector(`[data-field="${CSS.escape(path)}"]`);
      if (node && node.offsetParent !== null) return node;
      const shorter = path.replace(/(\[\d+\]|\.[^.[\]]+)$/, "");
      if (shorter === path) break;
      path = shorter;
    }
    return null;
  }

  function showError(message, field, extra) {
    clearErrors();
    const box = $("form-error");
    const parts = [el("strong", { text: "Not submitted. " }), message];
    if (field) parts.push(" (", el("span", { class: "field-name", text: field }), ")");
    if (extra) parts.push(" " + extra);
    box.replaceChildren(...parts);
    box.hidden = false;
    const target = field ? fieldElement(field) : null;
    if (target) {
      target.classList.add("invalid");
      target.setAttribute("aria-invalid", "true");
      target.setAttribute("aria-errormessage", "form-error");
      const focusable = target.matches("input, select, textarea") ? target : target.querySelector("input:not([type=file]), button, input");
      if (focusable) focusable.focus({ preventScroll: true });
      target.scrollIntoView({ block: "center", behavior: "smooth" });
    } else {
      box.scrollIntoView({ block: "nearest" });
    }
  }

  function showNote(text) {
    $("submit-note").textContent = text || "";
  }

  // ---------------------------------------------------------------- submit
  function requestBody() {
    const value = (id) => $(id).value.trim();
    const body = {
      prompt: $("prompt").value,
      resolution: value("resolution"),
      aspect_ratio: value("aspect_ratio"),
      movement_amplitude: value("movement_amplitude"),
      bgm: $("bgm").checked,
      audio: $("audio").checked,
      watermark: $("watermark").checked,
    };
    for (const id of ["duration", "seed"]) {
      const raw = $(id).value.trim();
      if (raw !== "") body[id] = Number(raw);
      else if ($(id).validity && $(id).validity.badInput) body[id] = "not a number";
    }
    if (body.aspect_ratio === "") delete body.aspect_ratio;
    if (state.mode === "subjects") {
      body.subjects = state.subjects.map((s) => {
        const subject = { name: s.name.trim(), images: s.images.map((img) => img.dataUri) };
        if (s.voice.trim()) subject.voice_id = s.voice.trim();
        return subject;
      });
    } else {
      body.images = state.images.map((img) => img.dataUri);
    }
    const webhook = value("webhook");
    if (webhook) body.extra = { webhook: { url: webhook } };
    return body;
  }

  async function submit(e) {
    e.preventDefault();
    clearErrors();
    closeMentions();
    if (!apiKey()) {
      showError("Paste your API key first.", "key");
      return;
    }
    const button = $("submit");
    button.disabled = true;
    showNote("Sending…");
    const body = requestBody();
    const r = await api("POST", SUBMIT_PATH, body);
    button.disabled = false;
    if (!r.ok) {
      showNote("");
      const field = r.status === 401 ? "key" : r.doc && r.doc.metadata && r.doc.metadata.field;
      const extra = r.retryAfter ? `Try again in ${r.retryAfter} s.` : "";
      showError(r.message, field || "", extra);
      return;
    }
    const id = r.doc.task_id;
    showNote("Submitted.");
    rememberTask(id, body.prompt);
    selectTask(id);
  }

  // ---------------------------------------------------------------- tasks
  function saveTasks() {
    storage.set(TASK_STORE, state.tasks.slice(0, MAX_RECENT));
  }

  function rememberTask(id, prompt) {
    state.tasks = [{ id, prompt: prompt.slice(0, 200), at: Date.now(), status: "TASK_STATUS_QUEUED" }, ...state.tasks.filter((t) => t.id !== id)].slice(0, MAX_RECENT);
    saveTasks();
    renderRecent();
  }

  function statusWords(status, reason) {
    switch (status) {
      case "TASK_STATUS_QUEUED":
        return ["Queued", "queued"];
      case "TASK_STATUS_PROCESSING":
        return ["Running", "processing"];
      case "TASK_STATUS_SUCCEED":
        return ["Done", "succeed"];
      case "TASK_STATUS_FAILED":
        return [reason === "cancelled" ? "Cancelled" : "Failed", "failed"];
      case "NOT_FOUND":
        return ["Not found", "failed"];
      default:
        return ["…", ""];
    }
  }

  function selectTask(id) {
    clearTimeout(state.pollTimer);
    state.selected = id;
    state.shownVideoFor = null;
    const video = $("video");
    video.removeAttribute("src");
    video.load();
    $("player").hidden = true;
    $("task-body").hidden = !id;
    $("task-empty").hidden = !!id;
    if (id) {
      $("task-id").textContent = id;
      $("task-status").textContent = "…";
      $("task-status").className = "badge";
      $("task-eta").textContent = "";
      $("task-reason").hidden = true;
      $("cancel").hidden = true;
      setProgress(0);
      pollSelected();
    }
    renderRecent();
  }

  function setProgress(percent) {
    const p = Math.max(0, Math.min(100, Number(percent) || 0));
    $("progress-bar").style.width = `${p}%`;
    $("progress").setAttribute("aria-valuenow", String(p));
  }

  async function pollSelected() {
    clearTimeout(state.pollTimer);
    const id = state.selected;
    if (!id) return;
    const r = await api("GET", `${RESULT_PATH}?task_id=${encodeURIComponent(id)}`);
    if (state.selected !== id) return;
    if (r.ok) {
      renderTask(r.doc);
      if (!TERMINAL.includes(r.doc.task.status)) state.pollTimer = setTimeout(pollSelected, 1000);
      return;
    }
    $("task-status").textContent = r.status === 404 ? "Not found" : "Error";
    $("task-status").className = "badge failed";
    const reason = $("task-reason");
    reason.hidden = false;
    reason.textContent =
      r.status === 404 ? "This task is not known to the server for this API key." : r.message;
    if (r.status === 404) noteStatus(id, "NOT_FOUND");
    if (r.status === 0 || r.status === 429 || r.status >= 500) {
      state.pollTimer = setTimeout(pollSelected, Math.max(2, r.retryAfter) * 1000);
    }
  }

  function renderTask(doc) {
    const task = doc.task || {};
    const status = task.status;
    const [words, cls] = statusWords(status, task.reason);
    $("task-status").textContent = words;
    $("task-status").className = `badge ${cls}`;
    setProgress(status === "TASK_STATUS_SUCCEED" ? 100 : task.progress_percent);
    const eta = Number(task.eta) || 0;
    let line = "";
    if (status === "TASK_STATUS_QUEUED") line = "Waiting for a worker…";
    else if (status === "TASK_STATUS_PROCESSING") line = `${Number(task.progress_percent) || 0} % · ` + (eta > 0 ? `about ${eta} s left` : "almost done");
    else if (status === "TASK_STATUS_SUCCEED") {
      const d = (doc.extra && doc.extra.debug_info) || {};
      const took = (Number(d.complete_time_ms) - Number(d.submit_time_ms)) / 1000;
      line = `Finished${took >= 0 ? ` in ${took.toFixed(1)} s` : ""} · seed ${doc.extra ? doc.extra.seed : "?"}`;
    }
    $("task-eta").textContent = line;
    const reason = $("task-reason");
    reason.hidden = !(status === "TASK_STATUS_FAILED" && task.reason);
    reason.textContent = task.reason || "";
    $("cancel").hidden = TERMINAL.includes(status);
    noteStatus(task.task_id || state.selected, status, task.reason);
    const video = (doc.videos || [])[0];
    if (status === "TASK_STATUS_SUCCEED" && video && state.shownVideoFor !== state.selected) {
      showVideo(video.video_url);
    }
  }

  // Our own /files/ links play in the page; a link minted for another host name of this same
  // server (say 127.0.0.1 while the page is on localhost) is played from this origin instead.
  function playableUrl(url) {
    const u = new URL(url, location.href);
    if (u.origin !== location.origin && u.pathname.startsWith("/files/")) {
      return location.origin + u.pathname + u.search;
    }
    return u.href;
  }

  function showVideo(url) {
    state.shownVideoFor = state.selected;
    const video = $("video");
    $("video-meta").textContent = "";
    video.src = playableUrl(url);
    $("download").href = url;
    $("download").setAttribute("download", `refvid-${state.selected}.mp4`);
    $("player").hidden = false;
  }

  function initPlayer() {
    const video = $("video");
    video.addEventListener("loadedmetadata", () => {
      $("video-meta").textContent = `${video.videoWidth}×${video.videoHeight} · ${video.duration.toFixed(1)} s`;
    });
    video.addEventListener("error", () => {
      if (!video.getAttribute("src")) return;
      $("video-meta").textContent = "This browser cannot play the video here; use the download link.";
    });
    $("cancel").addEventListener("click", async () => {
      const id = state.selected;
      if (!id) return;
      $("cancel").disabled = true;
      const r = await api("POST", `${CANCEL_PATH}?task_id=${encodeURIComponent(id)}`);
      $("cancel").disabled = false;
      if (state.selected !== id) return;
      if (r.ok) renderTask(r.doc);
      else {
        $("task-reason").hidden = false;
        $("task-reason").textContent = r.message;
      }
    });
  }

  function noteStatus(id, status, reason) {
    const t = state.tasks.find((x) => x.id === id);
    if (!t || (t.status === status && t.reason === reason)) return;
    t.status = status;
    t.reason = reason || "";
    saveTasks();
    renderRecent();
  }

  function renderRecent() {
    const list = $("recent-list");
    $("recent-empty").hidden = state.tasks.length > 0;
    list.replaceChildren(
      ...state.tasks.map((t) => {
        const [words, cls] = statusWords(t.status, t.reason);
        const open = el(
          "button",
          {
            type: "button",
            class: "open",
            "aria-current": String(t.id === state.selected),
            "data-task": t.id,
            onclick: () => selectTask(t.id),
          },
          [
            el("span", { class: "prompt-text", text: t.prompt || "(no prompt)" }),
            el("span", { class: `badge ${cls}`, text: words }),
            el("span", { class: "when", text: `${new Date(t.at).toLocaleString()} · ${t.id.slice(0, 8)}` }),
          ],
        );
        const forget = el("button", {
          type: "button",
          class: "icon",
          text: "×",
          title: "Remove from the list",
          "aria-label": `Remove task ${t.id.slice(0, 8)} from the list`,
          onclick: () => {
            state.tasks = state.tasks.filter((x) => x.id !== t.id);
            saveTasks();
            if (state.selected === t.id) selectTask(null);
            renderRecent();
          },
        });
        return el("li", {}, [open, forget]);
      }),
    );
  }

  // Refreshes the statuses of listed tasks that may still change (all of them with `all`).
  async function refreshRecent(all) {
    clearTimeout(state.recentTimer);
    if (!apiKey()) return;
    const pending = state.tasks.filter((t) => all || !TERMINAL.includes(t.status));
    for (const t of pending) {
      if (t.id === state.selected) continue;
      const r = await api("GET", `${RESULT_PATH}?task_id=${encodeURIComponent(t.id)}`);
      if (r.ok) noteStatus(t.id, r.doc.task.status, r.doc.task.reason);
      else if (r.status === 404) noteStatus(t.id, "NOT_FOUND");
    }
    if (state.tasks.some((t) => !TERMINAL.includes(t.status) && t.status !== "NOT_FOUND")) {
      state.recentTimer = setTimeout(() => refreshRecent(false), 5000);
    }
  }

  // ---------------------------------------------------------------- start
  function init() {
    initKey();
    initImagesMode();
    initPrompt();
    initPlayer();
    addSubject();
    for (const radio of document.querySelectorAll('input[name="mode"]')) {
      radio.addEventListener("change", () => {
        setMode(radio.value);
        clearErrors();
      });
    }
    $("add-subject").addEventListener("click", addSubject);
    $("task-form").addEventListener("submit", submit);
    for (const id of ["duration", "seed", "aspect_ratio", "resolution", "movement_amplitude", "webhook"]) {
      $(id).addEventListener("input", () => clearInvalid($(id)));
    }
    $("refresh").addEventListener("click", () => refreshRecent(true));
    renderRecent();
    refreshRecent(false);
  }

  init();
})();

// The labeling page: one image at a time, keys 1-4 to label, U to undo, Z (or a click) to zoom, P for the
// priming images. All rules live on the server (annotation/services.py); this script only shows and sends.
(function () {
  "use strict";
  const api = JSON.parse(document.getElementById("annotation-api").textContent);
  const root = document.getElementById("labeler");
  const undoSeconds = Number(root.dataset.undoSeconds);
  const img = document.getElementById("image");
  const zoomButton = document.getElementById("zoom-open");
  const zoom = document.getElementById("zoom");
  const zoomImg = document.getElementById("zoom-image");
  const bar = document.getElementById("progress");
  const barText = document.getElementById("progress-text");
  const statusLine = document.getElementById("status");
  const undoButton = document.getElementById("undo");
  const choices = Array.from(document.querySelectorAll(".choice"));
  const SAVED_MS = 1500;  // how long the chosen button stays marked
  let current = null;   // {id, image, data_url}
  let shownAt = 0;      // when the current image finished loading
  let busy = false;
  let undoTimer = null;
  let savedTimer = null;

  function csrf() {
    const m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  async function call(method, url, body) {
    const response = await fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf(), "Accept": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    return { ok: response.ok, status: response.status, data: data };
  }

  function showProgress(p) {
    if (!p) return;
    bar.max = Math.max(p.total, 1);
    bar.value = p.done;
    barText.textContent = p.done + " / " + p.total;
    root.dataset.done = String(p.done);
  }

  function setBusy(on) {
    busy = on;
    root.querySelector(".choices").classList.toggle("busy", on);
    choices.forEach(function (b) { b.disabled = on || !current; });
  }

  // Nothing may choose a label for the annotator: no label button keeps focus (a clicked one would, and Enter
  // or Space would then label the next image with it). Focus returns to the page, where those keys do nothing.
  function releaseFocus() {
    const active = document.activeElement;
    if (active && active.closest && active.closest(".choices")) { active.blur(); }
  }

  function markSaved(value) {
    clearTimeout(savedTimer);
    choices.forEach(function (b) { b.classList.toggle("saved", b.dataset.value === value); });
    savedTimer = setTimeout(clearSaved, SAVED_MS);
  }

  function clearSaved() {
    clearTimeout(savedTimer);
    choices.forEach(function (b) { b.classList.remove("saved"); });
  }

  function show(item) {
    current = item;
    shownAt = 0;
    img.onload = function () { shownAt = performance.now(); };
    img.src = item.data_url || item.image;  // the answer carries the image; the URL is the fallback
    zoomImg.src = img.src;
    root.dataset.item = item.id;
    setBusy(false);
    releaseFocus();
  }

  function handleError(result) {
    if (result.status === 409 && result.data.error === "priming_required") { window.location.reload(); return; }
    if (result.status === 409 && result.data.error === "campaign_closed") { window.location.reload(); return; }
    statusLine.textContent = result.data.detail || ("Something went wrong (" + result.status + "). Please try again.");
  }

  async function next() {
    setBusy(true);
    const result = await call("POST", api.next);
    if (!result.ok) { handleError(result); setBusy(false); return; }
    showProgress(result.data.progress);
    if (result.data.done) { window.location.assign(api.done); return; }
    show(result.data.item);
  }

  function armUndo() {
    undoButton.disabled = false;
    clearTimeout(undoTimer);
    undoTimer = setTimeout(function () { undoButton.disabled = true; }, undoSeconds * 1000);
  }

  function choiceText(value) {
    const button = choices.find(function (b) { return b.dataset.value === value; });
    return button ? button.querySelector(".choice-text").textContent : value;
  }

  async function submit(value) {
    if (busy || !current) return;
    closeZoom();
    setBusy(true);
    const spent = shownAt ? Math.round(performance.now() - shownAt) : null;
    const result = await call("POST", api.labels, { item: current.id, value: value, time_spent_ms: spent, next: true });
    if (!result.ok) {
      handleError(result);
      if (result.status === 409) { await next(); } else { setBusy(false); }
      return;
    }
    showProgress(result.data.progress);
    markSaved(value);
    statusLine.textContent = "Previous image saved as \u201c" + choiceText(value) + "\u201d.";
    armUndo();
    if (result.data.item) { show(result.data.item); return; }
    if (result.data.done) { window.location.assign(api.done); return; }
    await next();
  }

  function idle() {
    // An undo pressed while the next image is still loading waits for it instead of being lost.
    return new Promise(function (resolve) {
      (function check() { if (!busy) { resolve(); } else { setTimeout(check, 20); } })();
    });
  }

  async function undo() {
    if (undoButton.disabled) return;
    await idle();
    if (undoButton.disabled) return;
    setBusy(true);
    clearSaved();
    const result = await call("POST", api.undo);
    undoButton.disabled = true;
    if (!result.ok) { handleError(result); setBusy(false); return; }
    showProgress(result.data.progress);
    statusLine.textContent = "Last label undone: label this image again.";
    show(result.data.item);
  }

  // Zoom: the same pixels, filling the screen, without smoothing. The enlarged copy reuses the image already
  // received, so zooming asks the server for nothing.
  function openZoom() {
    if (!current || zoom.open) return;
    zoomImg.src = img.src;
    zoom.showModal();
  }

  function closeZoom() {
    if (zoom.open) { zoom.close(); }
  }

  zoomButton.addEventListener("click", openZoom);
  zoom.addEventListener("click", closeZoom);
  zoom.addEventListener("close", releaseFocus);
  choices.forEach(function (button) {
    button.addEventListener("click", function () { submit(button.dataset.value); });
  });
  undoButton.addEventListener("click", undo);
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const k = event.key;
    if (k >= "1" && k <= String(choices.length)) {
      event.preventDefault();
      submit(choices[Number(k) - 1].dataset.value);
    } else if (k === "u" || k === "U") {
      event.preventDefault();
      undo();
    } else if (k === "z" || k === "Z") {
      event.preventDefault();
      if (zoom.open) { closeZoom(); } else { openZoom(); }
    } else if (k === "Escape") {
      closeZoom();
    } else if (k === "p" || k === "P") {
      event.preventDefault();
      window.location.assign(document.querySelector(".tools a").href);
    }
  });
  next();
})();

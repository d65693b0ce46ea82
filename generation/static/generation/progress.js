// Live progress bars in the admin: poll the progress endpoint while any shown row is queued or running.
(function () {
  "use strict";
  const ACTIVE = ["queued", "running"];
  function bars() { return Array.from(document.querySelectorAll(".gen-progress")); }
  async function poll() {
    const shown = bars();
    if (!shown.length) return;
    const ids = { job: [], model: [], build: [] };
    shown.forEach((el) => ids[el.dataset.kind].push(el.dataset.id));
    const url = shown[0].dataset.url + "?jobs=" + ids.job.join(",") + "&models=" + ids.model.join(",") +
      "&builds=" + ids.build.join(",");
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const data = await response.json();
    let active = false;
    let reload = false;
    for (const [kind, rows] of [["job", data.jobs], ["model", data.models], ["build", data.builds]]) {
      for (const row of rows) {
        document.querySelectorAll(`.gen-progress[data-kind="${kind}"][data-id="${row.id}"]`).forEach((el) => {
          el.querySelector("progress").value = row.progress;
          const label = row.status.charAt(0).toUpperCase() + row.status.slice(1);
          el.querySelector(".gen-status").textContent = `${label} ${Math.round(100 * row.progress)}%`;
          el.title = row.error || "";
          // A row's page shows what it made (results, a pool, an error) once it ends: reload it then.
          if (el.dataset.reload && ACTIVE.includes(el.dataset.status) && !ACTIVE.includes(row.status)) reload = true;
          el.dataset.status = row.status;
        });
        if (ACTIVE.includes(row.status)) active = true;
      }
    }
    if (reload) window.location.reload();
    else if (active) setTimeout(poll, 2000);
  }
  document.addEventListener("DOMContentLoaded", () => setTimeout(poll, 1000));
})();

// Live progress bars in the admin: poll the progress endpoint while any shown row is queued or running.
(function () {
  "use strict";
  const ACTIVE = ["queued", "running"];
  function bars() { return Array.from(document.querySelectorAll(".gen-progress")); }
  async function poll() {
    const shown = bars();
    if (!shown.length) return;
    const ids = { job: [], model: [] };
    shown.forEach((el) => ids[el.dataset.kind].push(el.dataset.id));
    const url = shown[0].dataset.url + "?jobs=" + ids.job.join(",") + "&models=" + ids.model.join(",");
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const data = await response.json();
    let active = false;
    for (const [kind, rows] of [["job", data.jobs], ["model", data.models]]) {
      for (const row of rows) {
        document.querySelectorAll(`.gen-progress[data-kind="${kind}"][data-id="${row.id}"]`).forEach((el) => {
          el.querySelector("progress").value = row.progress;
          const label = row.status.charAt(0).toUpperCase() + row.status.slice(1);
          el.querySelector(".gen-status").textContent = `${label} ${Math.round(100 * row.progress)}%`;
          el.title = row.error || "";
        });
        if (ACTIVE.includes(row.status)) active = true;
      }
    }
    if (active) setTimeout(poll, 2000);
  }
  document.addEventListener("DOMContentLoaded", () => setTimeout(poll, 1000));
})();

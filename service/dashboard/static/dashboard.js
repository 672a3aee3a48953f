// tuneforge admin: draws the charts from their data-series attribute, refreshes running jobs
// and curves by polling small JSON endpoints, and asks before destructive posts.
// window.__charts[id] = {spec, chart} exposes what was drawn (tests read it).
"use strict";
(function () {
  const PALETTE = ["#0b5cad", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490", "#a16207", "#4b5563"];
  window.__charts = window.__charts || {};

  function colourFor(name, index) {
    if (/^(train|training)_/.test(name)) return "#0b5cad";
    if (/^full_valid/.test(name)) return "#7e22ce";
    if (/^(valid|validation|eval)_/.test(name)) return "#c2410c";
    return PALETTE[index % PALETTE.length];
  }

  function datasets(spec) {
    return Object.entries(spec.series).map(function ([name, points], i) {
      const colour = colourFor(name, i);
      const common = { label: name, borderColor: colour, backgroundColor: colour };
      if (spec.kind === "bar") return Object.assign(common, { data: points });
      if (spec.kind === "scatter") {
        return Object.assign(common, {
          data: points.map(function (p) { return { x: p[0], y: p[1] }; }), pointRadius: 6, pointHoverRadius: 8,
        });
      }
      return Object.assign(common, {
        data: points.map(function (p) { return { x: p[0], y: p[1] }; }),
        borderWidth: 2, pointRadius: points.length > 60 ? 0 : 2, tension: 0.15,
        borderDash: /^full_valid/.test(name) ? [6, 4] : [],
      });
    });
  }

  function config(spec) {
    if (spec.kind === "bar") {
      return {
        type: "bar",
        data: { labels: spec.labels, datasets: datasets(spec) },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, title: { display: true, text: "USD" } } },
          plugins: { legend: { position: "bottom" } },
        },
      };
    }
    if (spec.kind === "scatter") {
      return {
        type: "scatter",
        data: { datasets: datasets(spec) },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false, parsing: false,
          scales: {
            x: { type: "linear", beginAtZero: true, title: { display: true, text: spec.x_title } },
            y: { title: { display: true, text: spec.y_title } },
          },
          plugins: { legend: { position: "bottom" } },
        },
      };
    }
    return {
      type: "line",
      data: { datasets: datasets(spec) },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false, parsing: false,
        scales: { x: { type: "linear", title: { display: true, text: "step" } } },
        plugins: { legend: { position: "bottom" } },
      },
    };
  }

  function draw(canvas) {
    const spec = JSON.parse(canvas.dataset.series);
    const entry = { spec: spec, chart: null, drawn: false };
    window.__charts[spec.id] = entry;
    if (typeof window.Chart !== "function") return;  // the tables still carry the numbers
    entry.chart = new window.Chart(canvas, config(spec));
    entry.drawn = true;
  }

  function update(spec) {
    const entry = window.__charts[spec.id];
    if (!entry || !entry.chart) return;
    entry.spec = spec;
    entry.chart.data.datasets = datasets(spec);
    entry.chart.update();
    const canvas = document.getElementById("chart-" + spec.id);
    if (canvas) canvas.dataset.series = JSON.stringify(spec);
  }

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401) { window.location.reload(); return null; }
    if (!response.ok) return null;
    return response.json();
  }

  function pollJob(root) {
    const url = root.dataset.liveJob;
    const shownStatus = (document.querySelector("#job-status .badge") || {}).textContent;
    const timer = window.setInterval(async function () {
      const state = await getJSON(url);
      if (!state) return;
      state.charts.forEach(function (spec) {
        if (window.__charts[spec.id]) update(spec);
        else if (Object.keys(spec.series).length) { window.clearInterval(timer); window.location.reload(); }
      });
      const raw = document.getElementById("provider-status");
      if (raw) raw.textContent = state.provider_status || "—";
      if (state.status.replace(/_/g, " ") !== (shownStatus || "").trim() ||
          String(state.event_count) !== root.dataset.eventCount) {
        window.clearInterval(timer);
        window.location.reload();
      }
    }, 5000);
  }

  function cell(text, label, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    if (label) td.dataset.label = label;
    td.textContent = text;
    return td;
  }

  function pollRunning(table) {
    const note = document.getElementById("running-updated");
    window.setInterval(async function () {
      const data = await getJSON(table.dataset.liveRunning);
      if (!data) return;
      const body = document.createElement("tbody");
      data.jobs.forEach(function (job) {
        const tr = document.createElement("tr");
        const first = cell("", "Job");
        const link = document.createElement("a");
        link.href = "/admin/jobs/" + encodeURIComponent(job.id);
        link.textContent = job.id;
        first.appendChild(link);
        if (job.cancel_requested) {
          const badge = document.createElement("span");
          badge.className = "badge status-cancelled";
          badge.textContent = "cancel requested";
          first.append(" ", badge);
        }
        tr.append(first, cell(job.tenant, "Tenant"), cell(job.provider, "Provider"),
          cell(job.model, "Model", "wrap"), cell(job.started, "Started"),
          cell(job.last_step === null ? "—" : String(job.last_step), "Step", "num"),
          cell(job.last_train_loss === null ? "—" : job.last_train_loss.toFixed(4), "Train loss", "num"));
        body.appendChild(tr);
      });
      if (!data.jobs.length) {
        const tr = document.createElement("tr");
        tr.className = "empty";
        const td = cell("Nothing is running.");
        td.colSpan = 7;
        tr.appendChild(td);
        body.appendChild(tr);
      }
      table.replaceChild(body, table.tBodies[0]);
      if (note) note.textContent = "Updated " + new Date().toLocaleTimeString() + "; refreshes every 10 seconds.";
    }, 10000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("canvas.tf-chart").forEach(draw);
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });
    const job = document.querySelector("[data-live-job]");
    if (job) pollJob(job);
    const running = document.querySelector("[data-live-running]");
    if (running) pollRunning(running);
  });
})();

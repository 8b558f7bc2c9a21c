// Submit a job: a JSON body (docs/api.md) prefilled from a sample, checked with POST /api/jobs?dry_run=true, which
// answers every validation problem with its field and line, then submitted for real.
import { request } from "../api.js";
import { esc } from "../format.js";
import { go } from "../app.js";

const sample = {
  name: "tiny-lora",
  project: "samples",
  priority: 0,
  spec: {
    name: "tiny-lora",
    method: "lora",
    model: { path: "artifact:<sha256 of the model tar from POST /api/artifacts?kind=model>" },
    data: { train: "artifact:<sha256 of train.jsonl from POST /api/artifacts?kind=dataset>" },
    max_steps: 40,
    checkpoint: { every_steps: 10 },
  },
  resources: { device: "auto" },
  budget: { max_usd: 5, max_hours: 1 },
};

export async function renderSubmit(main) {
  main.innerHTML = `<h1>Submit a job</h1>
    <p class="muted">The request body of <code>POST /api/jobs</code>; the spec is the trainer's job spec (docs/job-spec.md).</p>
    <label for="spec">Job (JSON)</label>
    <textarea id="spec" rows="24" spellcheck="false">${esc(JSON.stringify(sample, null, 2))}</textarea>
    <div class="toolbar"><button id="validate">Validate</button><button id="submit">Submit</button></div>
    <div id="result" role="status" aria-live="polite"></div>`;
  const text = main.querySelector("#spec"), result = main.querySelector("#result");

  async function send(dryRun) {
    result.innerHTML = `<p class="muted">${dryRun ? "Validating" : "Submitting"}…</p>`;
    let body;
    try { body = JSON.parse(text.value); } catch (e) { result.innerHTML = `<p class="error">Not JSON: ${esc(e.message)}</p>`; return; }
    try {
      const answer = await request(`/api/jobs${dryRun ? "?dry_run=true" : ""}`, { method: "POST", body });
      if (dryRun) result.innerHTML = `<p id="valid">Valid.</p><h2>Memory plan</h2><pre id="plan">${esc(typeof answer.plan === "string" ? answer.plan : JSON.stringify(answer.plan ?? "", null, 2))}</pre>` +
        (answer.projection ? `<h2>Cost projection</h2><pre id="projection">${esc(JSON.stringify(answer.projection, null, 2))}</pre>` : "");
      else go(`/jobs/${encodeURIComponent(answer.id)}`);
    } catch (e) {
      result.innerHTML = `<p class="error" id="invalid">${esc(e.message)}</p><ul class="error" id="problems">${e.details.map((d) =>
        `<li>${esc(d.path ?? "")}${d.line ? ` (line ${d.line})` : ""}: ${esc(d.message)}</li>`).join("")}</ul>`;
    }
  }
  main.querySelector("#validate").addEventListener("click", () => send(true));
  main.querySelector("#submit").addEventListener("click", () => send(false));
}

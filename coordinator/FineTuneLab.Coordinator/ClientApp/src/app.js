// The router: client-side navigation between the dashboard's pages; the coordinator serves index.html for each path.
import { renderJobs } from "./pages/jobs.js";
import { renderJob } from "./pages/job.js";
import { renderSubmit } from "./pages/submit.js";
import { renderNodes } from "./pages/nodes.js";
import { renderCompare } from "./pages/compare.js";
import { renderCosts } from "./pages/costs.js";
import { esc } from "./format.js";

const routes = [
  [/^\/$/, renderJobs],
  [/^\/jobs\/([^/]+)$/, renderJob],
  [/^\/submit$/, renderSubmit],
  [/^\/nodes$/, renderNodes],
  [/^\/compare$/, renderCompare],
  [/^\/costs$/, renderCosts],
];

let leave = null;

async function show() {
  leave?.();
  leave = null;
  // Each page renders into a fresh element, so listeners a page adds leave with it.
  const main = document.createElement("div");
  document.getElementById("main").replaceChildren(main);
  const path = location.pathname;
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.getAttribute("href") === path) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const match = routes.find(([pattern]) => pattern.test(path));
  if (!match) { main.innerHTML = `<h1>Not found</h1><p>No page at ${esc(path)}.</p>`; return; }
  try {
    leave = await match[1](main, ...match[0].exec(path).slice(1).map(decodeURIComponent)) ?? null;
  } catch (e) {
    main.innerHTML = `<h1>Error</h1><p class="error">${esc(e.message)}</p>`;
  }
}

export function go(path) {
  history.pushState(null, "", path);
  show();
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a");
  if (!a || a.target || a.hasAttribute("download") || e.ctrlKey || e.metaKey || e.shiftKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  e.preventDefault();
  go(url.pathname + url.search);
});
addEventListener("popstate", show);
// Charts and the terminal take their colours when drawn: a switch between light and dark draws the page again.
matchMedia("(prefers-color-scheme: dark)").addEventListener("change", show);
show();

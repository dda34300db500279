// The page: asks for the host's API token once (kept for the tab), then shows the view the
// address's #fragment names: chat, runs[/ID], plugins, spend, logs.

import { api, onUnauthorized, token, Unauthorized } from "./api.js";
import { chatView } from "./chat.js";
import { fill, h } from "./dom.js";
import { logsView } from "./logs.js";
import { pluginsView } from "./plugins.js";
import { runsView } from "./runs.js";
import { spendView } from "./spend.js";

const main = document.querySelector("main");
const nav = document.querySelector("nav");
const notices = document.querySelector("#notices");
const dialog = document.querySelector("#token-dialog");
const tokenForm = dialog.querySelector("form");
const tokenInput = dialog.querySelector("input");
const tokenError = dialog.querySelector(".error");

const app = {
  notice(text, bad = false) {
    const el = h(`div.notice${bad ? ".bad" : ""}`, {}, text);
    notices.append(el);
    setTimeout(() => el.remove(), 4000);
  },
};

const views = { chat: chatView(app), runs: runsView(app), plugins: pluginsView(app), spend: spendView(app), logs: logsView(app) };
let current = null;

async function route() {
  if (!token.get()) return askToken();
  const [name, arg] = (location.hash.slice(1) || "chat").split("/");
  const view = views[name] || views.chat;
  if (current && current !== view) current.hide?.();
  current = view;
  for (const link of nav.querySelectorAll("a")) link.classList.toggle("active", link.hash === `#${name in views ? name : "chat"}`);
  if (view.root.parentNode !== main) fill(main, view.root);
  try {
    await view.show(arg);
  } catch (err) {
    if (!(err instanceof Unauthorized)) app.notice(err.message, true);
  }
}

function askToken(message = "") {
  tokenError.textContent = message;
  if (!dialog.open) dialog.showModal();
  tokenInput.focus();
}

tokenForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  token.set(tokenInput.value);
  try {
    await api("/api/agents");
  } catch (err) {
    token.clear();
    return askToken(err instanceof Unauthorized ? "The host refused this token." : err.message);
  }
  tokenInput.value = "";
  dialog.close();
  route();
});
dialog.addEventListener("cancel", (e) => e.preventDefault()); // nothing works without it

onUnauthorized(() => {
  token.clear();
  current?.hide?.();
  askToken("The host refused the token: paste it again.");
});

document.querySelector("#forget").addEventListener("click", () => {
  token.clear();
  current?.hide?.();
  askToken();
});

window.addEventListener("hashchange", route);
route();

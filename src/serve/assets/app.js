// The dashboard shell: sign-in, navigation, the live connection, confirmations and
// notices. Pages (pages.js) get one context object; all text comes from messages.json
// (the [dashboard] section of provctl's messages) and is rendered escaped by Preact.
import { html, render, useEffect, useRef, useState } from "./vendor.js";
import { Api, followEvents } from "./api.js";
import { PAGES } from "./pages.js";

const TOKEN_KEY = "provctl.token";

function fill(template, params) {
  return template.replace(/\{([a-z_][a-z0-9_]*)\}/g, (whole, name) => {
    const value = params?.[name];
    return value === undefined ? whole : String(value);
  });
}

function parseRoute() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [pathPart, queryPart = ""] = raw.split("?");
  const parts = pathPart.split("/").filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  return {
    page: parts[0] || "machines",
    args: parts.slice(1),
    params: new URLSearchParams(queryPart),
  };
}

export function href(page, args = [], params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== "") q.set(k, v);
  const tail = args.map((a) => `/${encodeURIComponent(a)}`).join("");
  const qs = q.toString();
  return `#/${page}${tail}${qs ? `?${qs}` : ""}`;
}

const NAV = ["machines", "services", "health", "deployments", "audit", "metrics"];

function SignIn({ t, onSignedIn, error: initialError }) {
  const [error, setError] = useState(initialError ?? "");
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const token = e.currentTarget.elements.token.value.trim();
    if (!token) return setError(t("signin_empty"));
    setBusy(true);
    setError("");
    try {
      const api = new Api(token);
      const canAct = await api.canOperate();
      sessionStorage.setItem(TOKEN_KEY, token);
      onSignedIn(token, canAct);
    } catch (err) {
      setError(err.message + (err.hint ? ` ${err.hint}` : ""));
    } finally {
      setBusy(false);
    }
  };
  return html`
    <main class="signin">
      <form onSubmit=${submit} class="card" aria-labelledby="signin-title">
        <h1 id="signin-title">${t("title")}</h1>
        <p>${t("signin_intro")}</p>
        <label for="token">${t("signin_token")}</label>
        <input id="token" name="token" type="password" autocomplete="off" spellcheck="false" required />
        <button type="submit" disabled=${busy}>${t("signin_submit")}</button>
        ${error && html`<p class="error" role="alert" id="signin-error">${error}</p>`}
      </form>
    </main>
  `;
}

function ConfirmDialog({ request, t }) {
  const ref = useRef(null);
  useEffect(() => {
    const dialog = ref.current;
    if (request && dialog && !dialog.open) dialog.showModal();
    if (!request && dialog?.open) dialog.close();
  }, [request]);
  const answer = (yes) => request?.resolve(yes);
  return html`
    <dialog ref=${ref} class="confirm" onCancel=${(e) => {
      e.preventDefault();
      answer(false);
    }}>
      <form method="dialog" onSubmit=${(e) => {
        e.preventDefault();
        answer(true);
      }}>
        <p id="confirm-text">${request?.text ?? ""}</p>
        <div class="row">
          <button type="button" class="secondary" onClick=${() => answer(false)}>${t(
            "cancel",
          )}</button>
          <button type="submit" class="danger" id="confirm-yes" autofocus>${request?.action ??
            t("confirm")}</button>
        </div>
      </form>
    </dialog>
  `;
}

function Dashboard({ token, canAct, t, signOut }) {
  const [route, setRoute] = useState(parseRoute());
  const [connection, setConnection] = useState("connecting");
  const [notices, setNotices] = useState([]);
  const [confirmRequest, setConfirmRequest] = useState(null);
  const listeners = useRef(new Set());
  const recent = useRef([]);
  // Bumped when the server no longer holds the events missed while away: every page
  // then loads afresh instead of showing what may be stale.
  const [generation, setGeneration] = useState(0);
  const api = useRef(null);
  api.current ??= new Api(token, () => signOut(t("session_expired")));

  useEffect(() => {
    const onHash = () => setRoute(parseRoute());
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);

  useEffect(() => {
    const abort = new AbortController();
    followEvents({
      token,
      signal: abort.signal,
      onState: (state) => {
        if (state === "unauthorized") signOut(t("session_expired"));
        else setConnection(state);
      },
      onEvent: (event) => {
        if (event.topic === "reset") setGeneration((g) => g + 1);
        recent.current.push(event);
        if (recent.current.length > 500) recent.current.shift();
        for (const listener of listeners.current) {
          try {
            listener(event);
          } catch (error) {
            console.warn(error);
          }
        }
      },
    });
    return () => abort.abort();
  }, [token]);

  const notify = (text, kind = "info") => {
    const id = Math.random();
    setNotices((n) => [...n.slice(-3), { id, text, kind }]);
    setTimeout(
      () => setNotices((n) => n.filter((x) => x.id !== id)),
      kind === "error" ? 10000 : 5000,
    );
  };

  const ctx = {
    api: api.current,
    canAct,
    t,
    route,
    href,
    notify,
    /** Calls `fn` with every event from the stream until the returned function is called. */
    subscribe(fn) {
      listeners.current.add(fn);
      return () => listeners.current.delete(fn);
    },
    /** The last events received (oldest first). */
    recent: () => [...recent.current],
    confirm(text, action) {
      return new Promise((resolve) => {
        setConfirmRequest({
          text,
          action,
          resolve: (yes) => {
            setConfirmRequest(null);
            resolve(yes);
          },
        });
      });
    },
  };

  const Page = PAGES[route.page] ?? PAGES.machines;
  const active = PAGES[route.page] ? route.page : "machines";
  return html`
    <header class="top">
      <a class="brand" href="#/machines">${t("title")}</a>
      <nav aria-label=${t("nav_label")}>
        ${NAV.map((p) =>
          html`
            <a href=${href(p)} aria-current=${active === p ? "page" : undefined}>${t(
              `nav_${p}`,
            )}</a>
          `
        )}
      </nav>
      <div class="status">
        <span id="connection" class=${`conn conn-${connection}`} data-state=${connection} role="status" aria-live="polite">
          ${t(`connection_${connection}`)}
        </span>
        <span class="scope" id="scope" data-can-act=${canAct ? "yes" : "no"}>${t(
          canAct ? "scope_operate" : "scope_read",
        )}</span>
        <button type="button" class="secondary small" onClick=${() => signOut()}>${t(
          "signout",
        )}</button>
      </div>
    </header>
    <main id="main">
      <${Page} key=${`${generation}:${route.page}/${route.args.join("/")}`} ctx=${ctx} />
    </main>
    <div class="notices" aria-live="polite">
      ${notices.map((n) => html`<p class=${`notice notice-${n.kind}`} key=${n.id}>${n.text}</p>`)}
    </div>
    <${ConfirmDialog} request=${confirmRequest} t=${t} />
  `;
}

function App({ t }) {
  const [session, setSession] = useState(() => {
    const token = sessionStorage.getItem(TOKEN_KEY);
    return token ? { token, canAct: undefined } : null;
  });
  const [signInError, setSignInError] = useState("");
  const signOut = (reason) => {
    sessionStorage.removeItem(TOKEN_KEY);
    setSignInError(reason ?? "");
    setSession(null);
  };
  // A page reload keeps the token (sessionStorage) and asks again what it may do.
  useEffect(() => {
    if (session && session.canAct === undefined) {
      new Api(session.token).canOperate().then(
        (canAct) => setSession({ token: session.token, canAct }),
        (error) => signOut(error.message),
      );
    }
  }, [session]);
  if (!session) {
    return html`<${SignIn} t=${t} error=${signInError} onSignedIn=${(token, canAct) =>
      setSession({ token, canAct })} />`;
  }
  if (session.canAct === undefined) return html`<p class="loading">${t("loading")}</p>`;
  return html`<${Dashboard} token=${session.token} canAct=${session.canAct} t=${t} signOut=${signOut} />`;
}

async function main() {
  const res = await fetch("/assets/messages.json", { cache: "no-cache" });
  const texts = await res.json();
  const t = (key, params) => fill(texts[key] ?? key, params);
  document.title = t("title");
  render(html`<${App} t=${t} />`, document.getElementById("app"));
}

main();

// The dashboard's pages. Each gets `ctx` (api, canAct, t, route, href, notify,
// subscribe, confirm) from app.js; values are rendered as text by Preact, never as HTML.
import { html, useEffect, useRef, useState } from "./vendor.js";
import { path, query } from "./api.js";

// ---------------------------------------------------------------------------------------
// Small helpers

/** Loads `load()` now, again when `deps` change, and when `reload()` is called. */
function useLoad(load, deps) {
  const [state, setState] = useState({ loading: true, data: undefined, error: undefined });
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ loading: false, data, error: undefined }),
      (error) => live && setState({ loading: false, data: undefined, error }),
    );
    return () => {
      live = false;
    };
  }, [...deps, round]);
  return { ...state, reload: () => setRound((r) => r + 1) };
}

/** Re-renders every `ms` (uptimes, "unhealthy for"). */
function useNow(ms = 1000) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

/** Subscribes to the event stream while mounted. */
function useEvents(ctx, fn, deps = []) {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => ctx.subscribe((e) => ref.current(e)), deps);
}

/** "850 ms", "42s", "3m 5s", "2h 10m", "3d 4h"; below `floorMs`, in whole seconds. */
export function duration(ms, floorMs = 0) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "—";
  if (ms < 1000 && floorMs === 0) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

function time(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString();
}

function ErrorLine({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${error.message}${
    error.hint ? ` ${error.hint}` : ""
  }</p>`;
}

function Loading({ state, t }) {
  if (state.error) return html`<${ErrorLine} error=${state.error} />`;
  if (state.loading && state.data === undefined) {
    return html`<p class="loading">${t("loading")}</p>`;
  }
  return null;
}

function Chips({ labels }) {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return html`<span class="muted">—</span>`;
  return html`<span class="chips">${
    entries.map(([k, v]) => html`<span class="chip" title=${`${k}=${v}`}>${k}=${v}</span>`)
  }</span>`;
}

function Badge({ value, kind }) {
  return html`<span class=${`badge badge-${kind ?? value}`}>${value}</span>`;
}

/** A button for acting: disabled for tokens that may only read, with the reason. */
function ActButton({ ctx, onClick, children, cls = "", id, busy }) {
  const title = ctx.canAct ? undefined : ctx.t("read_only");
  return html`
    <button type="button" id=${id} class=${cls} disabled=${!ctx.canAct || busy} title=${title}
      aria-disabled=${!ctx.canAct} onClick=${onClick}>${children}</button>
  `;
}

/** Sortable table header. */
function SortHeader({ label, field, sort, setSort }) {
  const active = sort.field === field;
  const dir = active ? sort.dir : undefined;
  return html`
    <th scope="col" aria-sort=${active ? (dir === 1 ? "ascending" : "descending") : "none"}>
      <button type="button" class="sort" data-sort=${field}
        onClick=${() => setSort({ field, dir: active ? -sort.dir : 1 })}>
          ${label}${active ? (dir === 1 ? " ▲" : " ▼") : ""}
        </button>
    </th>
  `;
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === undefined || a === null) return 1;
  if (b === undefined || b === null) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true });
}

// ---------------------------------------------------------------------------------------
// Machines

function Machines({ ctx }) {
  const { t, api, route } = ctx;
  const selector = route.params.get("selector") ?? "";
  const [draft, setDraft] = useState(selector);
  const [sort, setSort] = useState({ field: "name", dir: 1 });
  const [checking, setChecking] = useState(false);
  const state = useLoad(() => api.get(`/machines${query({ selector })}`), [selector]);
  // Reachability from the server's last check of each machine (whoever ran it).
  const checks = useLoad(() => api.get("/machines/check"), []);
  const [fresh, setFresh] = useState(new Map());
  const lastCheck = (name) => fresh.get(name) ?? checks.data?.items.find((c) => c.machine === name);
  const items = (state.data?.items ?? []).map((m) => {
    const c = lastCheck(m.name);
    return {
      ...m,
      reachable: c ? (c.ok ? 0 : 1) : undefined,
      latency: c?.latency_ms ?? undefined,
      check: c,
    };
  });
  items.sort((a, b) => sort.dir * compare(a[sort.field], b[sort.field]));
  const apply = (e) => {
    e.preventDefault();
    location.hash = ctx.href("machines", [], { selector: draft.trim() });
  };
  const check = async () => {
    setChecking(true);
    try {
      const body = selector ? { selector } : {};
      const res = await api.post("/machines/check", body);
      setFresh((old) => new Map([...old, ...res.items.map((c) => [c.machine, c])]));
    } catch (error) {
      ctx.notify(error.message, "error");
    } finally {
      setChecking(false);
    }
  };
  return html`
    <h1>${t("machines_title")}</h1>
    <form class="filters" onSubmit=${apply} role="search">
      <label for="selector">${t("selector_label")}</label>
      <input id="selector" name="selector" value=${draft} placeholder="role=web,env in (prod)"
        onInput=${(e) => setDraft(e.currentTarget.value)} spellcheck="false" autocomplete="off" />
      <button type="submit">${t("apply")}</button>
      <${ActButton} ctx=${ctx} id="check-machines" cls="secondary" busy=${checking}
        onClick=${check}>
        ${checking ? t("checking") : t("check_reachability")}
      <//>
      <label for="sort-by" class="narrow-only">${t("sort_by")}</label>
      <select id="sort-by" class="narrow-only" onChange=${(e) => {
        const [field, dir] = e.currentTarget.value.split(":");
        setSort({ field, dir: Number(dir) });
      }}>
        ${["name", "address", "profile", "reachable", "latency"].flatMap((f) =>
          [1, -1].map((d) =>
            html`<option value=${`${f}:${d}`} selected=${sort.field === f && sort.dir === d}>
          ${t(`sort_${f}`)} ${d === 1 ? "▲" : "▼"}
        </option>`
          )
        )}
      </select>
    </form>
    <p class="hint">${t("selector_hint")}</p>
    <${Loading} state=${state} t=${t} />
    ${state.data && html`
      <div class="table-wrap">
        <table id="machines-table" class="stack">
          <thead>
            <tr>
              <${SortHeader} label=${t("col_name")} field="name" sort=${sort} setSort=${setSort} />
              <${SortHeader} label=${t(
                "col_address",
              )} field="address" sort=${sort} setSort=${setSort} />
              <${SortHeader} label=${t(
                "col_profile",
              )} field="profile" sort=${sort} setSort=${setSort} />
              <th scope="col">${t("col_labels")}</th>
              <${SortHeader} label=${t(
                "col_reachability",
              )} field="reachable" sort=${sort} setSort=${setSort} />
              <${SortHeader} label=${t(
                "col_latency",
              )} field="latency" sort=${sort} setSort=${setSort} />
            </tr>
          </thead>
          <tbody>
            ${items.map((m) =>
              html`
                <tr key=${m.name} data-machine=${m.name}>
                  <td data-label=${t("col_name")}><a href=${ctx.href("machines", [m.name])}>${m
                    .name}</a></td>
                  <td data-label=${t("col_address")}>${m.address}${m.port ? `:${m.port}` : ""}</td>
                  <td data-label=${t("col_profile")}>${m.profile ?? "—"}</td>
                  <td data-label=${t("col_labels")}>
                    <${Chips} labels=${m.labels} />
                  </td>
                  <td data-label=${t("col_reachability")} title=${m.check?.checked_at
                    ? t("checked_at", { time: time(m.check.checked_at) })
                    : undefined}>${m.check
                    ? html`<${Badge} value=${m.check.ok ? t("reachable") : t("unreachable")} kind=${
                      m.check.ok ? "ok" : "failed"
                    } />${
                      m.check.error
                        ? html`
                          <span class="muted">${m.check.error}</span>
                        `
                        : ""
                    }`
                    : html`<span class="muted">${t("not_checked")}</span>`}</td>
                  <td data-label=${t("col_latency")}>${m.check?.latency_ms != null
                    ? `${m.check.latency_ms.toFixed(1)} ms`
                    : "—"}</td>
                </tr>
              `
            )}
          </tbody>
        </table>
      </div>
      <p class="muted">${t("machines_count", { count: items.length })}</p>
    `}
  `;
}

function Machine({ ctx }) {
  const { t, api, route } = ctx;
  const name = route.args[0];
  const machine = useLoad(() => api.get(`/machines/${path(name)}`), [name]);
  const audit = useLoad(() => api.get(`/audit${query({ machine: name, limit: 20 })}`), [name]);
  useEvents(ctx, (e) => {
    if (e.topic === "audit" && e.data?.machine === name) audit.reload();
  }, [name]);
  const m = machine.data;
  return html`
    <p><a href=${ctx.href("machines")}>← ${t("nav_machines")}</a></p>
    <h1>${t("machine_title", { name })}</h1>
    <${Loading} state=${machine} t=${t} />
    ${m && html`
      <dl class="facts">
        <dt>${t("col_address")}</dt>
        <dd>${m.address}${m.port ? `:${m.port}` : ""}</dd>
        <dt>${t("col_user")}</dt>
        <dd>${m.user ?? "—"}</dd>
        <dt>${t("col_profile")}</dt>
        <dd>${m.profile ?? "—"}</dd>
        <dt>${t("col_jump")}</dt>
        <dd>${m.jump ?? "—"}</dd>
        <dt>${t("col_labels")}</dt>
        <dd>
          <${Chips} labels=${m.labels} />
        </dd>
        <dt>${t("col_vars")}</dt>
        <dd id="machine-vars">
          <${Chips} labels=${m.vars} />
        </dd>
        <dt>${t("col_origin")}</dt>
        <dd>${m.origin}</dd>
      </dl>
      <h2>${t("services_title")}</h2>
      <${ServicesPanel} ctx=${ctx} machine=${name} />
      <h2>${t("recent_audit")}</h2>
      <${Loading} state=${audit} t=${t} />
      ${audit.data && html`<${AuditTable} t=${t} records=${audit.data.records} />`}
    `}
  `;
}

// ---------------------------------------------------------------------------------------
// Services

const LOCAL = "local";

function serviceBase(machine) {
  return machine === LOCAL ? "" : `/machines/${path(machine)}`;
}

function ServicesPanel({ ctx, machine }) {
  const { t, api } = ctx;
  const now = useNow();
  const [busy, setBusy] = useState("");
  const [logsOf, setLogsOf] = useState(null);
  const state = useLoad(() => api.get(`${serviceBase(machine)}/services`), [machine]);
  useEvents(ctx, (e) => {
    if (e.topic === "service" && (e.data?.machine ?? LOCAL) === machine) state.reload();
    if (e.topic === "reset") state.reload();
  }, [machine]);
  const act = async (svc, action) => {
    const yes = await ctx.confirm(
      t("confirm_service", { action: t(`action_${action}`), name: svc, machine }),
      t(`action_${action}`),
    );
    if (!yes) return;
    setBusy(`${svc}/${action}`);
    try {
      await api.post(`${serviceBase(machine)}/services/${path(svc)}/${action}`);
      ctx.notify(t("service_done", { action: t(`action_${action}`), name: svc, machine }));
      state.reload();
    } catch (error) {
      ctx.notify(error.message, "error");
    } finally {
      setBusy("");
    }
  };
  const items = state.data?.items ?? [];
  return html`
    <${Loading} state=${state} t=${t} />
    ${state.data && items.length === 0 && html`<p class="muted">${t("no_services")}</p>`}
    ${items.length > 0 && html`
      <div class="table-wrap">
        <table class="services stack">
          <thead>
            <tr>
              <th scope="col">${t("col_service")}</th>
              <th scope="col">${t("col_state")}</th>
              <th scope="col">${t("col_pid")}</th>
              <th scope="col">${t("col_uptime")}</th>
              <th scope="col">${t("col_backend")}</th>
              <th scope="col">${t("col_actions")}</th>
            </tr>
          </thead>
          <tbody>
            ${items.map((s) =>
              html`
                <tr key=${s.name} data-service=${s.name}>
                  <td data-label=${t("col_service")}>${s.name}</td>
                  <td data-label=${t("col_state")}><${Badge} value=${s
                    .state} kind=${s.state === "running" ? "ok" : "off"} />${s.reason
                    ? html`
                      <span class="muted">${s.reason}</span>
                    `
                    : ""}</td>
                  <td data-label=${t("col_pid")} class="pid">${s.pid ?? "—"}</td>
                  <td data-label=${t("col_uptime")}>${s.state === "running" && s.since
                    ? duration(Math.max(0, now - Date.parse(s.since)), 1000)
                    : "—"}</td>
                  <td data-label=${t("col_backend")}>${s.backend}</td>
                  <td data-label=${t("col_actions")} class="actions">
                    ${["start", "stop", "restart"].map((a) =>
                      html`
                        <${ActButton} ctx=${ctx} cls=${a === "start"
                          ? ""
                          : "secondary"} busy=${busy !== ""}
                          onClick=${() => act(s.name, a)}>${t(`action_${a}`)}<//>
                      `
                    )}
                    <button type="button" class="secondary" onClick=${() => setLogsOf(s.name)}>${t(
                      "logs",
                    )}</button>
                  </td>
                </tr>
              `
            )}
          </tbody>
        </table>
      </div>
    `}
    ${logsOf &&
      html`<${LogView} ctx=${ctx} machine=${machine} name=${logsOf} close=${() =>
        setLogsOf(null)} />`}
  `;
}

const MAX_LOG_LINES = 2000;

function LogView({ ctx, machine, name, close }) {
  const { t, api } = ctx;
  const [lines, setLines] = useState([]);
  const [status, setStatus] = useState("following");
  const [error, setError] = useState(null);
  const box = useRef(null);
  useEffect(() => {
    const abort = new AbortController();
    let partial = "";
    setLines([]);
    setStatus("following");
    api.stream(`${serviceBase(machine)}/services/${path(name)}/logs?lines=200&follow=1`, (text) => {
      const parts = (partial + text).split("\n");
      partial = parts.pop() ?? "";
      if (parts.length > 0) setLines((old) => [...old, ...parts].slice(-MAX_LOG_LINES));
    }, abort.signal).then(
      () => !abort.signal.aborted && setStatus("ended"),
      (err) => {
        if (abort.signal.aborted) return;
        setError(err);
        setStatus("ended");
      },
    );
    return () => abort.abort();
  }, [machine, name]);
  useEffect(() => {
    const el = box.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [lines]);
  return html`
    <section class="card logs" aria-labelledby="logs-title">
      <div class="row spread">
        <h2 id="logs-title">${t("logs_title", { name, machine })}</h2>
        <span class="muted" id="logs-status">${t(`logs_${status}`)}</span>
        <button type="button" class="secondary small" onClick=${close}>${t("close")}</button>
      </div>
      <${ErrorLine} error=${error} />
      <pre id="log-lines" ref=${box} tabindex="0">${lines.map((l) =>
        html`<span class="line">${l}</span>`
      )}</pre>
    </section>
  `;
}

function Services({ ctx }) {
  const { t, api, route } = ctx;
  const machine = route.params.get("machine") ?? LOCAL;
  const machines = useLoad(() => api.get("/machines"), []);
  const names = [LOCAL, ...(machines.data?.items ?? []).map((m) => m.name)];
  return html`
    <h1>${t("services_title")}</h1>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}>
      <label for="service-machine">${t("col_machine")}</label>
      <select id="service-machine" value=${machine}
        onChange=${(
          e,
        ) => (location.hash = ctx.href("services", [], { machine: e.currentTarget.value }))}>
        ${names.map((n) =>
          html`<option value=${n} selected=${n === machine}>${
            n === LOCAL ? t("this_machine") : n
          }</option>`
        )}
      </select>
    </form>
    <${ServicesPanel} ctx=${ctx} machine=${machine} />
  `;
}

// ---------------------------------------------------------------------------------------
// Health

const HEALTH_KEY = "provctl.health";

function Health({ ctx }) {
  const { t, api } = ctx;
  const now = useNow();
  const saved = JSON.parse(sessionStorage.getItem(HEALTH_KEY) ?? "null");
  const [check, setCheck] = useState(
    saved ?? { kind: "tcp", target: "", selector: "", interval: 5 },
  );
  const [watching, setWatching] = useState(Boolean(saved?.target));
  const [results, setResults] = useState(new Map());
  const [transitions, setTransitions] = useState([]);
  const [error, setError] = useState(null);
  const since = useRef(new Map());

  useEffect(() => {
    if (!watching || !check.target) return;
    let stop = false;
    let timer;
    const poll = async () => {
      try {
        const q = {
          [check.kind]: check.target,
          ...(check.selector ? { selector: check.selector } : { machine: "*" }),
        };
        const res = await api.get(`/health${query(q)}`);
        setError(null);
        const next = new Map();
        for (const r of res.items) {
          const prev = since.current.get(r.machine);
          if (!prev || prev.healthy !== r.healthy) {
            since.current.set(r.machine, { healthy: r.healthy, at: Date.now() });
          }
          next.set(r.machine, r);
        }
        if (!stop) setResults(next);
      } catch (err) {
        if (!stop) setError(err);
      }
      if (!stop) timer = setTimeout(poll, Math.max(1, Number(check.interval) || 5) * 1000);
    };
    poll();
    return () => {
      stop = true;
      clearTimeout(timer);
    };
  }, [watching, check.kind, check.target, check.selector, check.interval]);

  // Transitions of every check anyone runs through the API arrive on the stream.
  useEvents(ctx, (e) => {
    if (e.topic !== "health" || e.type !== "transition") return;
    const d = e.data ?? {};
    const to = d.healthy ? "healthy" : "unhealthy";
    const at = Date.parse(e.at) || Date.now();
    since.current.set(d.machine, { healthy: d.healthy, at });
    setTransitions((old) =>
      [{ id: e.id, at: e.at, machine: d.machine, from: d.previous, to, detail: d.detail }, ...old]
        .slice(0, 100)
    );
  });

  const submit = (e) => {
    e.preventDefault();
    const f = e.currentTarget.elements;
    const next = {
      kind: f.kind.value,
      target: f.target.value.trim(),
      selector: f.hselector.value.trim(),
      interval: Number(f.interval.value) || 5,
    };
    since.current = new Map();
    setResults(new Map());
    setCheck(next);
    setWatching(Boolean(next.target));
    sessionStorage.setItem(HEALTH_KEY, JSON.stringify(next));
  };
  const rows = [...results.values()];
  return html`
    <h1>${t("health_title")}</h1>
    <form class="filters wrap" onSubmit=${submit}>
      <label for="hkind">${t("health_kind")}</label>
      <select id="hkind" name="kind">
        <option value="tcp" selected=${check.kind === "tcp"}>tcp</option>
        <option value="http" selected=${check.kind === "http"}>http</option>
      </select>
      <label for="htarget">${t("health_target")}</label>
      <input id="htarget" name="target" value=${check
        .target} placeholder="{host}:8080" spellcheck="false"
        autocomplete="off" />
      <label for="hselector">${t("selector_label")}</label>
      <input id="hselector" name="hselector" value=${check.selector} placeholder=${t(
        "all_machines",
      )}
        spellcheck="false" autocomplete="off" />
      <label for="hinterval">${t("health_interval")}</label>
      <input id="hinterval" name="interval" type="number" min="1" max="3600" value=${check.interval}
        class="narrow" />
      <button type="submit">${t("health_watch")}</button>
    </form>
    <p class="hint">${t("health_hint")}</p>
    <${ErrorLine} error=${error} />
    ${rows.length > 0 && html`
      <div class="table-wrap">
        <table id="health-table" class="stack">
          <thead>
            <tr>
              <th scope="col">${t("col_machine")}</th>
              <th scope="col">${t("col_health")}</th>
              <th scope="col">${t("col_for")}</th>
              <th scope="col">${t("col_latency")}</th>
              <th scope="col">${t("col_detail")}</th>
            </tr>
          </thead>
          <tbody>
            ${rows.map((r) => {
              const s = since.current.get(r.machine);
              return html`
                <tr key=${r.machine} data-machine=${r.machine} data-healthy=${r.healthy
                  ? "yes"
                  : "no"}>
                  <td data-label=${t("col_machine")}>${r.machine}</td>
                  <td data-label=${t("col_health")}>
                    <${Badge} value=${r.healthy ? t("healthy") : t("unhealthy")} kind=${r.healthy
                      ? "ok"
                      : "failed"} />
                  </td>
                  <td data-label=${t("col_for")}>${s
                    ? duration(Math.max(0, now - s.at), 1000)
                    : "—"}</td>
                  <td data-label=${t("col_latency")}>${r.latency_ms.toFixed(1)} ms</td>
                  <td data-label=${t("col_detail")}>${r.detail}</td>
                </tr>
              `;
            })}
          </tbody>
        </table>
      </div>
    `}
    <h2>${t("transitions_title")}</h2>
    ${transitions.length === 0 && html`<p class="muted">${t("no_transitions")}</p>`}
    <ol class="events" id="transitions">
      ${transitions.map((x) =>
        html`
          <li key=${x.id} data-machine=${x.machine} data-to=${x.to}>
            <time>${time(x.at)}</time> <strong>${x.machine}</strong> ${x.from ??
              "?"} → <${Badge} value=${x.to} kind=${x.to === "healthy" ? "ok" : "failed"} />
            <span class="muted">${x.detail}</span>
          </li>
        `
      )}
    </ol>
  `;
}

// ---------------------------------------------------------------------------------------
// Deployments

function Deployments({ ctx }) {
  const { t, api } = ctx;
  const state = useLoad(() => api.get("/deployments"), []);
  useEvents(ctx, (e) => {
    if (e.topic === "operation" && e.type === "finished") state.reload();
  });
  return html`
    <h1>${t("deployments_title")}</h1>
    <${Loading} state=${state} t=${t} />
    ${state.data && state.data.items.length === 0 &&
      html`<p class="muted">${t("no_deployments")}</p>`}
    ${state.data && state.data.items.length > 0 && html`
      <div class="table-wrap">
        <table id="deployments-table">
          <thead>
            <tr>
              <th scope="col">${t("col_name")}</th>
              <th scope="col">${t("col_strategy")}</th>
              <th scope="col">${t("col_service")}</th>
              <th scope="col">${t("col_version")}</th>
              <th scope="col">${t("col_previous")}</th>
              <th scope="col">${t("col_result")}</th>
              <th scope="col">${t("col_updated")}</th>
            </tr>
          </thead>
          <tbody>
            ${state.data.items.map((d) =>
              html`
                <tr key=${d.name} data-deployment=${d.name}>
                  <td><a href=${ctx.href("deployments", [d.name])}>${d.name}</a></td>
                  <td>${d.strategy}</td>
                  <td>${d.service ?? "—"}</td>
                  <td class="mono">${d.version ?? "—"}</td>
                  <td class="mono">${d.previous ?? "—"}</td>
                  <td>${d.last_result
                    ? html`<${Badge} value=${d.last_result} kind=${
                      d.last_result === "ok" ? "ok" : "failed"
                    } />`
                    : "—"}</td>
                  <td>${time(d.updated)}</td>
                </tr>
              `
            )}
          </tbody>
        </table>
      </div>
    `}
  `;
}

function PlanView({ t, plan }) {
  return html`
    <section class="card" id="plan" aria-labelledby="plan-title">
      <h2 id="plan-title">${t("plan_title", {
        version: plan.version,
        strategy: plan.strategy,
      })}</h2>
      <ol class="batches">
        ${plan.batches.map((b, i) =>
          html`
            <li key=${i}><strong>${t("batch", { n: i + 1, kind: b.kind })}</strong> ${b.machines
              .join(", ")}</li>
          `
        )}
      </ol>
      <div class="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">${t("col_machine")}</th>
              <th scope="col">${t("col_release")}</th>
              <th scope="col">${t("col_steps")}</th>
              <th scope="col">${t("col_health")}</th>
            </tr>
          </thead>
          <tbody>
            ${plan.machines.map((m) =>
              html`
                <tr key=${m.machine}>
                  <td>${m.machine}</td>
                  <td class="mono">${m.release_dir}</td>
                  <td>${[
                    ...m.before.map((s) => `before: ${s}`),
                    ...(m.service ? [`service: ${m.service.command}`] : []),
                    ...m.after.map((s) => `after: ${s}`),
                  ]
                    .map((s) => html`<div class="mono">${s}</div>`)}</td>
                  <td>${m.health ?? "—"}</td>
                </tr>
              `
            )}
          </tbody>
        </table>
      </div>
    </section>
  `;
}

/** Live progress of one deploy or rollback operation, from the event stream. */
function Progress({ ctx, op, onDone }) {
  const { t, api } = ctx;
  const [batches, setBatches] = useState([]);
  const [hosts, setHosts] = useState({});
  const [log, setLog] = useState([]);
  const [final, setFinal] = useState(null);
  const finish = async () => {
    try {
      const record = await api.get(`/operations/${path(op.id)}`);
      setFinal(record);
      onDone?.(record);
    } catch (error) {
      ctx.notify(error.message, "error");
    }
  };
  const onEvent = (e) => {
    if (e.data?.id !== op.id) return;
    if (e.topic === "operation" && e.type === "finished") return void finish();
    if (e.topic !== "deploy") return;
    const p = e.data.params ?? {};
    setLog((old) => [...old, { id: e.id, text: e.data.message }]);
    if (e.type === "batch_start" || e.type === "canary_start") {
      setBatches((
        old,
      ) => [...old, { n: p.batch, of: p.batches, hosts: String(p.hosts ?? "").split(", ") }]);
    }
    const stage = {
      host_start: "deploying",
      host_done: "healthy",
      host_failed: "failed",
      host_rolled_back: "rolled_back",
      host_rollback_failed: "failed",
    }[e.type];
    if (stage && p.host) {
      setHosts((old) => ({
        ...old,
        [p.host]: { stage, detail: p.stage ? `${p.stage}: ${p.error ?? ""}` : p.version ?? "" },
      }));
    }
  };
  // Events published before this view subscribed (the answer to the POST can arrive after
  // the first batch started) are replayed from the shell's recent events.
  useEffect(() => {
    for (const e of ctx.recent()) onEvent(e);
  }, [op.id]);
  useEvents(ctx, onEvent, [op.id]);
  // The operation may have finished before this view subscribed.
  useEffect(() => {
    api.get(`/operations/${path(op.id)}`).then((r) => r.status !== "running" && finish(), () => {});
  }, [op.id]);
  const result = final?.result;
  return html`
    <section class="card progress" id="progress" data-status=${final?.status ??
      "running"} aria-live="polite">
      <h2>${t(`progress_${op.kind}`, { id: op.id })}</h2>
      <ol class="batches" id="progress-batches">
        ${batches.map((b) =>
          html`
            <li key=${b.n} data-batch=${b.n}>
              <strong>${t("batch_of", { n: b.n, of: b.of })}</strong>
              <ul class="hosts">
                ${b.hosts.map((h) => {
                  const s = hosts[h];
                  return html`<li key=${h} data-host=${h} data-stage=${s?.stage ?? "pending"}>
                  ${h}: <${Badge} value=${t(`stage_${s?.stage ?? "pending"}`)} kind=${
                    s?.stage === "healthy" || s?.stage === "rolled_back"
                      ? "ok"
                      : s?.stage === "failed"
                      ? "failed"
                      : "off"
                  } />
                  ${
                    s?.detail
                      ? html`
                        <span class="muted mono">${s.detail}</span>
                      `
                      : ""
                  }
                </li>`;
                })}
              </ul>
            </li>
          `
        )}
      </ol>
      ${final && html`
        <p id="progress-result" class=${final.status === "succeeded" ? "ok" : "error"}>
          ${t(`op_${final.status}`)}${result?.version ? ` — ${result.version}` : ""}${result?.reason
            ? ` — ${result.reason}`
            : ""}${final.error ? ` — ${final.error.detail}` : ""}
        </p>
      `}
      <details>
        <summary>${t("progress_log")}</summary>
        <pre class="log">${log.map((l) =>
          html`<span class="line" key=${l.id}>${l.text}</span>`
        )}</pre>
      </details>
    </section>
  `;
}

function Deployment({ ctx }) {
  const { t, api, route } = ctx;
  const name = route.args[0];
  const detail = useLoad(() => api.get(`/deployments/${path(name)}`), [name]);
  const [plan, setPlan] = useState(null);
  const [op, setOp] = useState(null);
  const [busy, setBusy] = useState(false);
  const [version, setVersion] = useState("");
  // A deploy of this deployment started elsewhere (another browser, a script) shows too.
  useEvents(ctx, (e) => {
    if (e.topic === "operation" && e.type === "started" && e.data?.request?.deployment === name) {
      setOp((cur) => (cur && cur.id === e.data.id ? cur : { id: e.data.id, kind: e.data.kind }));
    }
  }, [name]);
  const planIt = async () => {
    setBusy(true);
    try {
      const res = await api.post(`/deployments/${path(name)}/deploy`, {
        dry_run: true,
        ...(version ? { version } : {}),
      });
      setPlan(res.plan);
    } catch (error) {
      ctx.notify(error.message, "error");
    } finally {
      setBusy(false);
    }
  };
  const run = async (kind) => {
    const text = kind === "deploy"
      ? t("confirm_deploy", { name, version: plan?.version ?? version })
      : t("confirm_rollback", { name, version: detail.data?.previous ?? "?" });
    if (!(await ctx.confirm(text, t(`action_${kind}`)))) return;
    setBusy(true);
    try {
      const body = kind === "deploy" ? { ...(plan ? { version: plan.version } : {}) } : {};
      const res = await api.post(`/deployments/${path(name)}/${kind}`, body);
      setOp({ id: res.id, kind });
      setPlan(null);
    } catch (error) {
      ctx.notify(error.message, "error");
    } finally {
      setBusy(false);
    }
  };
  const d = detail.data;
  const running = op && !op.done;
  return html`
    <p><a href=${ctx.href("deployments")}>← ${t("nav_deployments")}</a></p>
    <h1>${t("deployment_title", { name })}</h1>
    <${Loading} state=${detail} t=${t} />
    ${d && html`
      <dl class="facts">
        <dt>${t("col_strategy")}</dt><dd>${d.strategy}</dd>
        <dt>${t("col_service")}</dt><dd>${d.service ?? "—"}</dd>
        <dt>${t("col_artifact")}</dt><dd class="mono">${d.artifact}</dd>
        <dt>${t("col_version")}</dt><dd class="mono" id="live-version">${d.version ?? "—"}</dd>
        <dt>${t("col_previous")}</dt><dd class="mono">${d.previous ?? "—"}</dd>
        ${d.live_group && html`
          <dt>${t("col_live_group")}</dt>
          <dd>${d.live_group}</dd>
        `}
      </dl>
      ${d.plan_error && html`<p class="error">${d.plan_error}</p>`}
      <div class="row wrap">
        <label for="deploy-version">${t("col_version")}</label>
        <input id="deploy-version" value=${version} placeholder=${t(
          "version_default",
        )} class="narrow-wide"
          onInput=${(e) =>
            setVersion(e.currentTarget.value.trim())} spellcheck="false" autocomplete="off" />
        <${ActButton} ctx=${ctx} id="plan-deploy" cls="secondary" busy=${busy || running}
          onClick=${planIt}>${t("action_plan")}<//>
        <${ActButton} ctx=${ctx} id="run-deploy" busy=${busy || running || !plan} onClick=${() =>
          run("deploy")}>${t("action_deploy")}<//>
        <${ActButton} ctx=${ctx} id="run-rollback" cls="danger" busy=${busy || running ||
          !d.previous} onClick=${() => run("rollback")}>${t("action_rollback")}<//>
      </div>
      ${ctx.canAct && !plan && !op && html`<p class="hint">${t("plan_first")}</p>`}
      ${plan && html`<${PlanView} t=${t} plan=${plan} />`}
      ${op && html`<${Progress} key=${op.id} ctx=${ctx} op=${op} onDone=${() => {
        setOp((cur) => (cur ? { ...cur, done: true } : cur));
        detail.reload();
      }} />`}
      <h2>${t("history_title")}</h2>
      ${d.history.length === 0 && html`<p class="muted">${t("no_history")}</p>`}
      ${d.history.length > 0 && html`
        <div class="table-wrap">
          <table id="history-table">
            <thead>
              <tr>
                <th scope="col">${t("col_started")}</th>
                <th scope="col">${t("col_op")}</th>
                <th scope="col">${t("col_id")}</th>
                <th scope="col">${t("col_operator")}</th>
                <th scope="col">${t("col_result")}</th>
                <th scope="col">${t("col_machines")}</th>
              </tr>
            </thead>
            <tbody>
              ${d.history.map((h) =>
                html`
                  <tr key=${h.deployment_id + h.op}>
                    <td>${time(h.started)}</td>
                    <td>${h.op}</td>
                    <td class="mono">${h.deployment_id}</td>
                    <td>${h.operator}</td>
                    <td>
                      <${Badge} value=${h.outcome} kind=${h.outcome === "ok"
                        ? "ok"
                        : h.outcome === "unknown"
                        ? "unknown"
                        : "failed"} />
                    </td>
                    <td>${h.machines.join(", ")}</td>
                  </tr>
                `
              )}
            </tbody>
          </table>
        </div>
      `}
    `}
  `;
}

// ---------------------------------------------------------------------------------------
// Audit

function AuditTable({ t, records }) {
  if (records.length === 0) return html`<p class="muted">${t("no_audit")}</p>`;
  return html`
    <div class="table-wrap">
      <table class="audit">
        <thead>
          <tr>
            <th scope="col">${t("col_time")}</th>
            <th scope="col">${t("col_operator")}</th>
            <th scope="col">${t("col_machine")}</th>
            <th scope="col">${t("col_op")}</th>
            <th scope="col">${t("col_target")}</th>
            <th scope="col">${t("col_result")}</th>
            <th scope="col">${t("col_duration")}</th>
            <th scope="col">${t("col_error")}</th>
          </tr>
        </thead>
        <tbody>
          ${records.map((r, i) =>
            html`
              <tr key=${r.ts + i}>
                <td>${time(r.ts)}</td>
                <td>${r.operator}</td>
                <td>${r.machine}</td>
                <td>${r.op}</td>
                <td>${r.target ?? ""}</td>
                <td>
                  <${Badge} value=${r.result} kind=${r.result === "ok" ? "ok" : "failed"} />
                </td>
                <td>${r.duration_ms === undefined ? "—" : duration(r.duration_ms)}</td>
                <td class="muted">${r.error ?? ""}</td>
              </tr>
            `
          )}
        </tbody>
      </table>
    </div>
  `;
}

function Audit({ ctx }) {
  const { t, api, route } = ctx;
  const filters = {
    machine: route.params.get("machine") ?? "",
    op: route.params.get("op") ?? "",
    result: route.params.get("result") ?? "",
    since: route.params.get("since") ?? "",
  };
  const key = JSON.stringify(filters);
  const [records, setRecords] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [state, setState] = useState({ loading: true, error: null });
  const load = async (from, replace) => {
    setState({ loading: true, error: null });
    try {
      const page = await api.get(
        `/audit${query({ ...filters, limit: 50, cursor: from ?? undefined })}`,
      );
      setRecords((old) => (replace ? page.records : [...old, ...page.records]));
      setCursor(page.next_cursor);
      setState({ loading: false, error: null });
    } catch (error) {
      setState({ loading: false, error });
    }
  };
  useEffect(() => {
    load(null, true);
  }, [key]);
  // New records arrive live when they match the filters (time filters: always newer).
  useEvents(ctx, (e) => {
    if (e.topic !== "audit" || e.type !== "record") return;
    const r = e.data;
    if (filters.machine && r.machine !== filters.machine) return;
    if (filters.op && r.op !== filters.op) return;
    if (filters.result && r.result !== filters.result) return;
    setRecords((old) => [r, ...old]);
  }, [key]);
  const submit = (e) => {
    e.preventDefault();
    const f = e.currentTarget.elements;
    location.hash = ctx.href("audit", [], {
      machine: f.amachine.value.trim(),
      op: f.aop.value.trim(),
      result: f.aresult.value,
      since: f.asince.value.trim(),
    });
  };
  return html`
    <h1>${t("audit_title")}</h1>
    <form class="filters wrap" onSubmit=${submit} role="search">
      <label for="amachine">${t("col_machine")}</label>
      <input id="amachine" name="amachine" value=${filters
        .machine} autocomplete="off" spellcheck="false" />
      <label for="aop">${t("col_op")}</label>
      <input id="aop" name="aop" value=${filters.op} autocomplete="off" spellcheck="false" />
      <label for="aresult">${t("col_result")}</label>
      <select id="aresult" name="aresult">
        ${["", "ok", "failed", "unreachable", "timeout", "cancelled", "error"].map((r) =>
          html`<option value=${r} selected=${filters.result === r}>${r || t("any")}</option>`
        )}
      </select>
      <label for="asince">${t("audit_since")}</label>
      <input id="asince" name="asince" value=${filters.since} placeholder="1h" class="narrow"
        autocomplete="off" />
      <button type="submit">${t("apply")}</button>
    </form>
    <${ErrorLine} error=${state.error} />
    <${AuditTable} t=${t} records=${records} />
    ${cursor && html`
      <button type="button" class="secondary" id="audit-more" disabled=${state.loading}
        onClick=${() => load(cursor, false)}>${t("older")}</button>
    `}
    ${state.loading && html`<p class="loading">${t("loading")}</p>`}
  `;
}

// ---------------------------------------------------------------------------------------
// Metrics

function Metrics({ ctx }) {
  const { t, api } = ctx;
  const state = useLoad(() => api.get(`/audit${query({ limit: 1000 })}`), []);
  const prom = useLoad(() => api.get("/metrics"), []);
  const [records, setRecords] = useState(null);
  useEffect(() => {
    if (state.data) setRecords(state.data.records);
  }, [state.data]);
  useEvents(ctx, (e) => {
    if (e.topic === "audit" && e.type === "record") {
      setRecords((old) => (old ? [e.data, ...old] : old));
    }
  });
  const latency = useRef(null);
  const failures = useRef(null);
  useEffect(() => {
    if (!records) return;
    let charts = [];
    let cancelled = false;
    import("./charts.js").then(async (m) => {
      if (cancelled) return;
      charts = await m.drawAuditCharts({
        latency: latency.current,
        failures: failures.current,
        records,
        t,
      });
    }).catch((error) => ctx.notify(error.message, "error"));
    return () => {
      cancelled = true;
      for (const c of charts) c.destroy();
    };
  }, [records]);
  const samples = typeof prom.data === "string" ? parsePrometheus(prom.data) : [];
  return html`
    <h1>${t("metrics_title")}</h1>
    <${Loading} state=${state} t=${t} />
    <div class="charts">
      <figure class="card">
        <figcaption>${t("chart_latency")}</figcaption>
        <div ref=${latency} id="chart-latency"></div>
      </figure>
      <figure class="card">
        <figcaption>${t("chart_failures")}</figcaption>
        <div ref=${failures} id="chart-failures"></div>
      </figure>
    </div>
    <h2>${t("counters_title")}</h2>
    <${Loading} state=${prom} t=${t} />
    ${samples.length > 0 && html`
      <div class="table-wrap">
        <table id="metrics-table">
          <thead>
            <tr>
              <th scope="col">${t("col_metric")}</th>
              <th scope="col">${t("col_labels")}</th>
              <th scope="col">${t("col_value")}</th>
            </tr>
          </thead>
          <tbody>
            ${samples.map((s, i) =>
              html`
                <tr key=${i}>
                  <td class="mono">${s.name}</td>
                  <td>
                    <${Chips} labels=${s.labels} />
                  </td>
                  <td>${s.value}</td>
                </tr>
              `
            )}
          </tbody>
        </table>
      </div>
    `}
  `;
}

/** Prometheus text format -> samples (counters and gauges; histogram buckets left out). */
export function parsePrometheus(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1].endsWith("_bucket")) continue;
    const labels = {};
    for (const l of (m[3] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
    }
    out.push({ name: m[1], labels, value: m[4] });
  }
  return out;
}

export const PAGES = {
  machines: (p) =>
    p.ctx.route.args.length > 0 ? html`<${Machine} ...${p} />` : html`<${Machines} ...${p} />`,
  services: Services,
  health: Health,
  deployments: (p) =>
    p.ctx.route.args.length > 0
      ? html`<${Deployment} ...${p} />`
      : html`<${Deployments} ...${p} />`,
  audit: Audit,
  metrics: Metrics,
};

/* 남양주시 민원 모니터링 (staff dashboard). Plain JavaScript, no libraries, no CDN.
 * Data from /admin/api/* (session cookie); state-changing requests send the X-CSRF-Token header
 * given to the page in <meta name="nyj-csrf">. Every piece of data is inserted with textContent /
 * createTextNode (never innerHTML), charts are built as SVG elements. Refreshes every 15 s. */
(function () {
  "use strict";

  var REFRESH_MS = 15000;
  var PAGE_SIZE = 50;
  var SVG = "http://www.w3.org/2000/svg";
  var STATUSES = ["접수", "배정", "처리중", "처리완료", "이관", "반려"];
  var DUE_LABEL = { overdue: "기한 초과", near_due: "기한 임박", on_time: "기한 내", done: "완료" };
  var CHANNEL_LABEL = { chat: "챗봇", phone: "전화", voice: "전화", open311: "Open311", web: "홈페이지",
    agent: "상담원", sms: "문자" };

  var csrf = meta("nyj-csrf");
  var state = { offset: 0, total: 0, selected: null, current: null, dirty: false, summary: null,
    loading: false, timer: null, days: null };

  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute("content") || "" : "";
  }

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (k === "text") node.textContent = attrs[k];
        else if (k === "className") node.className = attrs[k];
        else node.setAttribute(k, attrs[k]);
      });
    }
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  // --- time formatting (always Korean time) ---------------------------------------------------
  var fmt = new Intl.DateTimeFormat("ko-KR", { timeZone: "Asia/Seoul", year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

  function parts(iso) {
    var out = {};
    fmt.formatToParts(new Date(iso)).forEach(function (p) { out[p.type] = p.value; });
    return out;
  }

  function when(iso, withYear) {
    if (!iso) return "";
    var p = parts(iso);
    var day = p.month + "-" + p.day;
    return (withYear ? p.year + "-" + day : day) + " " + p.hour + ":" + p.minute;
  }

  function todayIso() {
    var p = parts(new Date().toISOString());
    return p.year + "-" + p.month + "-" + p.day;
  }

  // --- HTTP ---------------------------------------------------------------------------------
  function api(path, options) {
    options = options || {};
    var init = { method: options.method || "GET", credentials: "same-origin", headers: { Accept: "application/json" } };
    if (options.body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRF-Token"] = csrf;
      init.body = JSON.stringify(options.body);
    } else if (init.method !== "GET") {
      init.headers["X-CSRF-Token"] = csrf;
    }
    return fetch(path, init).then(function (res) {
      if (res.status === 401) {
        window.location.assign("/admin/login");
        throw new Error("로그인이 필요합니다.");
      }
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) {
          var err = new Error(data.message || "요청을 처리하지 못했습니다. 잠시 후 다시 시도해 주세요.");
          err.status = res.status;
          err.data = data;
          throw err;
        }
        return data;
      });
    });
  }

  function filterParams() {
    var form = $("filters");
    var params = new URLSearchParams();
    ["status", "team", "urgent", "due_state", "q", "from", "to"].forEach(function (name) {
      var v = form.elements[name].value.trim();
      if (v) params.set(name, v);
    });
    if (form.elements.repeat.checked) params.set("repeat", "1");
    if (form.elements.open.checked) params.set("open", "1");
    return params;
  }

  // --- counters -----------------------------------------------------------------------------
  var COUNTERS = [
    { key: "접수", label: "접수", filter: { status: "접수" } },
    { key: "배정", label: "배정", filter: { status: "배정" } },
    { key: "처리중", label: "처리중", filter: { status: "처리중" } },
    { key: "처리완료", label: "처리완료", filter: { status: "처리완료" } },
    { key: "이관", label: "이관", filter: { status: "이관" } },
    { key: "반려", label: "반려", filter: { status: "반려" } },
    { key: "urgent_open", label: "긴급", tone: "urgent", filter: { urgent: "true", open: "1" }, note: "미처리" },
    { key: "overdue", label: "기한 초과", tone: "overdue", filter: { due_state: "overdue" } },
    { key: "near_due", label: "기한 임박", tone: "near", filter: { due_state: "near_due" } },
    { key: "repeat_open", label: "반복", tone: "repeat", filter: { repeat: "1", open: "1" }, note: "미처리" }
  ];

  function counterValue(summary, c) {
    if (summary.by_status && Object.prototype.hasOwnProperty.call(summary.by_status, c.key)) {
      return summary.by_status[c.key];
    }
    return summary[c.key] || 0;
  }

  function filterActive(filter) {
    var form = $("filters");
    return Object.keys(filter).every(function (k) {
      var field = form.elements[k];
      return field.type === "checkbox" ? field.checked : field.value === filter[k];
    });
  }

  function renderCounters(summary) {
    var list = $("counters");
    clear(list);
    COUNTERS.forEach(function (c) {
      var value = counterValue(summary, c);
      var btn = el("button", { type: "button", className: "counter" + (c.tone ? " tone-" + c.tone : "") +
        (c.tone && value > 0 ? " has-value" : ""), "aria-pressed": String(filterActive(c.filter)),
        "data-key": c.key }, [
        el("span", { className: "counter-label", text: c.label + (c.note ? " (" + c.note + ")" : "") }),
        el("span", { className: "counter-value", text: String(value) }),
        el("span", { className: "sr-only", text: "건, 목록 거르기" })
      ]);
      btn.addEventListener("click", function () { applyCounter(c.filter); });
      list.appendChild(el("li", null, [btn]));
    });
  }

  function applyCounter(filter) {
    var form = $("filters");
    var wasActive = filterActive(filter);
    ["status", "urgent", "due_state"].forEach(function (k) { form.elements[k].value = ""; });
    form.elements.repeat.checked = false;
    form.elements.open.checked = false;
    if (!wasActive) {
      Object.keys(filter).forEach(function (k) {
        var field = form.elements[k];
        if (field.type === "checkbox") field.checked = true; else field.value = filter[k];
      });
    }
    state.offset = 0;
    refresh();
  }

  function fillSelect(select, values, labels) {
    var current = select.value;
    while (select.options.length > 1) select.remove(1);
    values.forEach(function (v) {
      var opt = el("option", { value: v, text: labels ? labels(v) : v });
      select.appendChild(opt);
    });
    select.value = values.indexOf(current) >= 0 ? current : "";
  }

  function renderFilterOptions(summary) {
    var form = $("filters");
    if (form.elements.status.options.length <= 1) fillSelect(form.elements.status, STATUSES);
    var open = summary.open_by_team || {};
    var teams = (summary.teams || []).slice();
    Object.keys(open).forEach(function (t) { if (teams.indexOf(t) < 0) teams.push(t); });
    teams.sort();
    fillSelect(form.elements.team, teams, function (t) { return open[t] ? t + " (미처리 " + open[t] + ")" : t; });
    var list = $("team-list");
    clear(list);
    teams.forEach(function (t) { list.appendChild(el("option", { value: t })); });
  }

  // --- table --------------------------------------------------------------------------------
  function badge(text, cls) { return el("span", { className: "badge " + cls, text: text }); }

  function statusBadge(status) {
    return badge(status, "st-" + (STATUSES.indexOf(status) >= 0 ? STATUSES.indexOf(status) : "x"));
  }

  function dueCell(item) {
    var td = el("td", { className: "due due-" + item.due_state });
    td.appendChild(el("span", { className: "due-time", text: when(item.expected_at) }));
    if (item.due_state === "overdue" || item.due_state === "near_due") {
      td.appendChild(badge(item.due_state === "overdue" ? "초과" : "임박",
        item.due_state === "overdue" ? "b-overdue" : "b-near"));
    } else if (item.due_state === "done") {
      td.appendChild(badge("완료", "b-done"));
    }
    return td;
  }

  function renderRows(data) {
    var body = $("rows");
    clear(body);
    state.total = data.total;
    data.items.forEach(function (item) {
      var open = el("button", { type: "button", className: "link", text: item.id,
        "aria-label": item.id + " 상세 보기" });
      open.addEventListener("click", function (ev) { ev.stopPropagation(); select(item.id, true); });
      var repeat = item.repeat_count > 0 ? "재접수 " + item.repeat_count + "회" : item.duplicate_of ? "중복" : "";
      var tr = el("tr", { "data-id": item.id, className: (item.id === state.selected ? "selected " : "") +
        (item.due_state === "overdue" ? "row-overdue" : item.due_state === "near_due" ? "row-near" : "") }, [
        el("td", { className: "id" }, [open]),
        el("td", { className: "nowrap", text: when(item.created_at) }),
        el("td", { className: "cat", text: item.category, title: item.summary }),
        el("td", { text: item.team }),
        el("td", null, [statusBadge(item.status)]),
        el("td", null, item.urgent ? [badge("긴급", "b-urgent")] : [el("span", { className: "muted", text: "-" })]),
        dueCell(item),
        el("td", { className: "repeat" }, repeat ? [badge(repeat, "b-repeat")] : [])
      ]);
      if (item.id === state.selected) tr.setAttribute("aria-current", "true");
      tr.addEventListener("click", function () { select(item.id, false); });
      body.appendChild(tr);
    });
    $("empty").hidden = data.items.length > 0;
    $("list-count").textContent = "총 " + data.total + "건" + (data.truncated ? " (일부만 표시)" : "");
    var page = Math.floor(state.offset / PAGE_SIZE) + 1;
    var pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
    $("page-info").textContent = page + " / " + pages + " 쪽";
    $("prev").disabled = state.offset <= 0;
    $("next").disabled = state.offset + PAGE_SIZE >= data.total;
  }

  // --- charts (plain SVG) -------------------------------------------------------------------
  var W = 600, H = 150, PAD = { l: 34, r: 8, t: 10, b: 22 };

  function niceMax(v) {
    if (v <= 4) return 4;
    var step = Math.pow(10, Math.floor(Math.log10(v)));
    var n = Math.ceil(v / step);
    n = n <= 2 ? 2 : n <= 5 ? 5 : 10;
    return n * step;
  }

  function axes(node, max, days, unit) {
    var ih = H - PAD.t - PAD.b;
    for (var i = 0; i <= 2; i++) {
      var val = max * i / 2;
      var y = PAD.t + ih - ih * i / 2;
      node.appendChild(svg("line", { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, class: i ? "grid" : "axis" }));
      node.appendChild(svg("text", { x: PAD.l - 5, y: y + 4, "text-anchor": "end", class: "tick" },
        (Math.round(val * 10) / 10) + unit));
    }
    var iw = (W - PAD.l - PAD.r) / days.length;
    days.forEach(function (d, idx) {
      if (idx % 5 === 0 || idx === days.length - 1) {
        node.appendChild(svg("text", { x: PAD.l + iw * idx + iw / 2, y: H - 6, "text-anchor": "middle",
          class: "tick" }, d.date.slice(5).replace("-", "/")));
      }
    });
    return iw;
  }

  function resetChart(node, descText) {
    // the drawing uses the element's real pixel size, so text and bars are never stretched
    var rect = node.getBoundingClientRect();
    W = Math.max(280, Math.round(rect.width) || 600);
    H = Math.max(90, Math.round(rect.height) || 130);
    node.setAttribute("viewBox", "0 0 " + W + " " + H);
    var desc = node.querySelector("desc");
    clear(node);
    node.appendChild(svg("desc", { id: desc ? desc.id : "" }, descText));
  }

  function drawCharts(days) {
    state.days = days;
    drawIntake(days);
    drawTime(days);
  }

  function drawIntake(days) {
    var node = $("chart-intake");
    var total = 0, peak = 0;
    days.forEach(function (d) { total += d.intake; peak = Math.max(peak, d.intake); });
    resetChart(node, "최근 30일 접수 " + total + "건, 하루 최대 " + peak + "건");
    var max = niceMax(peak);
    var iw = axes(node, max, days, "");
    var ih = H - PAD.t - PAD.b;
    days.forEach(function (d, idx) {
      if (!d.intake) return;
      var h = ih * d.intake / max;
      var bar = svg("rect", { x: PAD.l + iw * idx + iw * 0.15, y: PAD.t + ih - h, width: iw * 0.7, height: h,
        class: "bar" });
      bar.appendChild(svg("title", {}, d.date + ": 접수 " + d.intake + "건"));
      node.appendChild(bar);
    });
  }

  function drawTime(days) {
    var node = $("chart-time");
    var vals = days.filter(function (d) { return d.avg_hours !== null; });
    var peak = 0, sum = 0, n = 0;
    vals.forEach(function (d) { peak = Math.max(peak, d.avg_hours); sum += d.avg_hours * d.closed; n += d.closed; });
    resetChart(node, n ? "최근 30일 처리완료 " + n + "건, 평균 " + (Math.round(sum / n * 10) / 10) + "시간"
      : "최근 30일 처리완료 민원 없음");
    var max = niceMax(peak);
    var iw = axes(node, max, days, "h");
    var ih = H - PAD.t - PAD.b;
    if (!n) {
      node.appendChild(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "nodata" },
        "처리완료 자료 없음"));
      return;
    }
    var path = "", prev = false;
    days.forEach(function (d, idx) {
      if (d.avg_hours === null) { prev = false; return; }
      var x = PAD.l + iw * idx + iw / 2, y = PAD.t + ih - ih * d.avg_hours / max;
      path += (prev ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1) + " ";
      prev = true;
    });
    node.appendChild(svg("path", { d: path.trim(), class: "line" }));
    days.forEach(function (d, idx) {
      if (d.avg_hours === null) return;
      var dot = svg("circle", { cx: PAD.l + iw * idx + iw / 2, cy: PAD.t + ih - ih * d.avg_hours / max, r: 3.5,
        class: "dot" });
      dot.appendChild(svg("title", {}, d.date + ": 평균 " + d.avg_hours + "시간 (" + d.closed + "건)"));
      node.appendChild(dot);
    });
  }

  // --- detail -------------------------------------------------------------------------------
  function field(dl, label, value) {
    dl.appendChild(el("dt", { text: label }));
    dl.appendChild(el("dd", null, [value === undefined || value === null || value === "" ? "-" : value]));
  }

  function renderDetail(data) {
    var c = data.complaint;
    state.current = c;
    $("detail-empty").hidden = true;
    $("detail-body").hidden = false;
    $("detail-close").hidden = false;
    $("detail-title").textContent = "민원 상세 " + c.id;

    var dl = $("detail-fields");
    clear(dl);
    field(dl, "상태", statusBadge(c.status));
    field(dl, "접수일시", when(c.created_at, true));
    var due = el("span", null, [when(c.expected_at, true) + " "]);
    due.appendChild(badge(DUE_LABEL[c.due_state] || c.due_state, "b-" + (c.due_state === "overdue" ? "overdue" :
      c.due_state === "near_due" ? "near" : c.due_state === "done" ? "done" : "ontime")));
    field(dl, "처리기한", due);
    if (c.closed_at) field(dl, "완료일시", when(c.closed_at, true));
    field(dl, "접수경로", CHANNEL_LABEL[c.channel] || c.channel);
    field(dl, "분류", c.category + (c.kind ? " · " + c.kind : ""));
    field(dl, "담당", c.department + " / " + c.team);
    field(dl, "긴급", c.urgent ? badge("긴급", "b-urgent") : "일반");
    field(dl, "위치", c.address);
    if (c.occurred) field(dl, "발생 시점", c.occurred);
    if (c.repeat_count) field(dl, "반복", "같은 민원 재접수 " + c.repeat_count + "회");
    if (c.duplicate_of) {
      var link = el("button", { type: "button", className: "link", text: c.duplicate_of });
      link.addEventListener("click", function () { select(c.duplicate_of, true); });
      field(dl, "원 민원", link);
    }

    $("d-description").textContent = c.description || "-";
    var contact = [c.contact.name, c.contact.phone, c.contact.email].filter(Boolean).join(" · ");
    $("d-contact").textContent = contact || "연락처 없음";
    $("d-reason").textContent = c.route_reason || "-";
    const photos = $("d-photos");
    if (photos) {
      photos.replaceChildren();
      (c.photos || []).forEach(function (url, i) {
        const a = document.createElement("a");
        a.href = url;
        a.target = "_blank";
        a.rel = "noopener";
        a.textContent = "사진 " + (i + 1);
        photos.appendChild(a);
        photos.appendChild(document.createTextNode(" "));
      });
      if (!(c.photos || []).length) photos.textContent = "-";
    }

    var sel = $("c-status");
    clear(sel);
    sel.appendChild(el("option", { value: "", text: "변경 안 함" }));
    (c.next_statuses || []).forEach(function (s) { sel.appendChild(el("option", { value: s, text: s })); });
    $("c-team").value = c.team;
    $("c-note").value = "";
    state.dirty = false;

    var ol = $("d-history");
    clear(ol);
    (data.history || []).slice().reverse().forEach(function (e) {
      var change = e.from_status && e.to_status && e.from_status !== e.to_status
        ? e.from_status + " → " + e.to_status : e.to_status || "";
      var li = el("li", { className: "event" }, [
        el("div", { className: "event-head" }, [
          el("time", { datetime: e.at, text: when(e.at, true) }),
          el("span", { className: "event-action", text: e.action }),
          el("span", { className: "event-actor", text: e.actor })
        ])
      ]);
      if (change) li.appendChild(el("div", { className: "event-change", text: change }));
      if (e.note) li.appendChild(el("div", { className: "event-note", text: e.note }));
      ol.appendChild(li);
    });
  }

  function select(id, focus) {
    if (state.selected !== id) setMessage("", "");
    state.selected = id;
    Array.prototype.forEach.call(document.querySelectorAll("#rows tr"), function (tr) {
      var on = tr.getAttribute("data-id") === id;
      tr.classList.toggle("selected", on);
      if (on) tr.setAttribute("aria-current", "true"); else tr.removeAttribute("aria-current");
    });
    return loadDetail().then(function () { if (focus) $("detail-title").focus(); });
  }

  function closeDetail() {
    state.selected = null;
    state.current = null;
    $("detail-body").hidden = true;
    $("detail-empty").hidden = false;
    $("detail-close").hidden = true;
    $("detail-title").textContent = "민원 상세";
    Array.prototype.forEach.call(document.querySelectorAll("#rows tr.selected"), function (tr) {
      tr.classList.remove("selected");
      tr.removeAttribute("aria-current");
    });
  }

  function loadDetail() {
    if (!state.selected) return Promise.resolve();
    return api("/admin/api/complaints/" + encodeURIComponent(state.selected)).then(renderDetail)
      .catch(function (err) { if (err.status === 404) closeDetail(); setMessage(err.message, "error"); });
  }

  function setMessage(text, kind) {
    var msg = $("change-msg");
    msg.textContent = text;
    msg.className = "change-msg" + (kind ? " " + kind : "");
  }

  function save(ev) {
    ev.preventDefault();
    var c = state.current;
    if (!c) return;
    var body = { expected_version: c.version };
    var status = $("c-status").value;
    var team = $("c-team").value.trim();
    var note = $("c-note").value.trim();
    if (status) body.status = status;
    if (team && team !== c.team) body.team = team;
    if (note) body.note = note;
    if (!body.status && !body.team && !body.note) {
      setMessage("바꿀 상태나 담당팀, 또는 메모를 입력해 주세요.", "error");
      return;
    }
    var button = $("c-save");
    button.disabled = true;
    setMessage("저장하는 중…", "");
    api("/admin/api/complaints/" + encodeURIComponent(c.id) + "/change", { method: "POST", body: body })
      .then(function (data) {
        renderDetail(data);
        setMessage("저장했습니다. (" + data.complaint.status + " · " + data.complaint.team + ")", "ok");
        var newest = $("d-history").firstChild;
        if (newest) newest.scrollIntoView({ block: "nearest" });
        refreshLists();
      })
      .catch(function (err) {
        var message = err.message;
        var reload = err.status === 409 ? loadDetail() : Promise.resolve();
        reload.then(function () {
          setMessage(message, "error");
          $("change-msg").scrollIntoView({ block: "nearest" });
        });
        if (err.status === 409) refreshLists();
      })
      .then(function () { button.disabled = false; });
  }

  // --- refresh ------------------------------------------------------------------------------
  function loadList() {
    var params = filterParams();
    params.set("limit", String(PAGE_SIZE));
    params.set("offset", String(state.offset));
    return api("/admin/api/complaints?" + params.toString()).then(function (data) {
      if (state.offset > 0 && state.offset >= data.total) {
        state.offset = 0;
        return loadList();
      }
      renderRows(data);
    });
  }

  function loadSummary() {
    return api("/admin/api/summary").then(function (summary) {
      state.summary = summary;
      renderFilterOptions(summary);
      renderCounters(summary);
    });
  }

  function loadSeries() {
    return api("/admin/api/series").then(function (data) { drawCharts(data.days); });
  }

  function updateCsvLink() {
    var q = filterParams().toString();
    $("csv").setAttribute("href", "/admin/api/complaints.csv" + (q ? "?" + q : ""));
  }

  function refreshLists() {
    updateCsvLink();
    return Promise.all([loadSummary(), loadList()]);
  }

  function refresh() {
    if (state.loading) return Promise.resolve();
    state.loading = true;
    var jobs = [refreshLists(), loadSeries()];
    if (state.selected && !state.dirty) jobs.push(loadDetail());
    return Promise.all(jobs).then(function () {
      $("refresh-state").textContent = "최근 갱신 " + when(new Date().toISOString()).slice(6) + " (15초마다 자동)";
      $("refresh-state").classList.remove("error");
    }).catch(function (err) {
      $("refresh-state").textContent = "갱신 실패: " + err.message;
      $("refresh-state").classList.add("error");
    }).then(function () { state.loading = false; });
  }

  function schedule() {
    if (state.timer) clearInterval(state.timer);
    state.timer = setInterval(function () { if (!document.hidden) refresh(); }, REFRESH_MS);
  }

  function logout() {
    api("/admin/logout", { method: "POST" }).catch(function () { return null; })
      .then(function () { window.location.assign("/admin/login"); });
  }

  function init() {
    $("user-name").textContent = meta("nyj-user");
    $("filters").elements.to.setAttribute("max", todayIso());
    $("filters").addEventListener("submit", function (ev) { ev.preventDefault(); state.offset = 0; refresh(); });
    $("filters").addEventListener("change", function (ev) {
      if (ev.target.name !== "q") { state.offset = 0; refresh(); }
    });
    $("filters").addEventListener("reset", function () {
      setTimeout(function () { state.offset = 0; refresh(); }, 0);
    });
    $("prev").addEventListener("click", function () {
      state.offset = Math.max(0, state.offset - PAGE_SIZE); loadList();
    });
    $("next").addEventListener("click", function () { state.offset += PAGE_SIZE; loadList(); });
    $("refresh-now").addEventListener("click", function () { refresh(); });
    $("logout").addEventListener("click", logout);
    $("detail-close").addEventListener("click", closeDetail);
    $("change-form").addEventListener("submit", save);
    $("change-form").addEventListener("input", function () { state.dirty = true; });
    $("change-form").addEventListener("change", function () { state.dirty = true; });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () { if (state.days) drawCharts(state.days); }, 150);
    });
    refresh();
    schedule();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

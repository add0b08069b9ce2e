/* 남양주시 상담원 콘솔 (GET /agent): live call transcript, suggested answers with citations, intent,
 * a pre-filled complaint form, the call summary, the agent's call list and a browser-microphone mode.
 *
 * Protocol: /work/notes/agent_protocol.md (WS /agent/calls/{id} JSON messages, /agent/api/*).
 * Security: the page runs under a strict CSP (script-src 'self'), so there is no inline script; all
 * server text (transcripts may contain anything) is inserted with textContent, never innerHTML.
 * POSTs carry the X-CSRF-Token header from <meta name="csrf-token">.
 *
 * This same file is also loaded as the AudioWorklet module of the microphone mode (a worklet may
 * only load scripts from 'self'); in that scope there is no `window`, only `registerProcessor`. */
(function () {
  "use strict";

  // ---- AudioWorklet scope: collect ~100 ms of mono float samples and post them to the page ------
  if (typeof window === "undefined") {
    if (typeof registerProcessor === "function" && typeof AudioWorkletProcessor === "function") {
      class Collector extends AudioWorkletProcessor {
        constructor() {
          super();
          this.size = Math.max(128, Math.round(sampleRate / 10));
          this.buf = new Float32Array(this.size);
          this.len = 0;
        }

        process(inputs) {
          var input = inputs[0];
          if (input && input.length) {
            var ch = input[0];
            for (var i = 0; i < ch.length; i++) {
              var v = ch[i];
              for (var c = 1; c < input.length; c++) v += input[c][i];
              this.buf[this.len++] = v / input.length;
              if (this.len === this.size) {
                this.port.postMessage(this.buf, [this.buf.buffer]); // transferred: the old buffer is detached
                this.buf = new Float32Array(this.size);
                this.len = 0;
              }
            }
          }
          return true;
        }
      }
      registerProcessor("nyj-pcm-collector", Collector);
    }
    return;
  }

  var TARGET_RATE = 16000;
  var FRAME_BYTES = 3200; // 100 ms of 16 kHz PCM16
  var CALLS_REFRESH_MS = 5000;
  var PING_MS = 20000;
  var STALE_MS = 50000;
  var NEAR_BOTTOM_PX = 48;
  var SPEAKER = { agent: "상담원", caller: "민원인" };
  var SOURCE = { twilio: "전화", mic: "마이크" };
  var FIELDS = ["category", "team", "department", "urgent", "location", "description",
    "contact_name", "contact_phone", "consent"];
  var BOOL_FIELDS = { urgent: true, consent: true };

  var csrf = meta("csrf-token");
  var state = {
    me: null,
    callId: null,       // selected call
    call: null,         // call object from hello
    ws: null,
    wsSerial: 0,        // increments on every (re)connect so stale sockets are ignored
    retry: 0,
    retryTimer: null,
    pingTimer: null,
    lastSeen: 0,
    partial: {},        // speaker -> .line.partial element
    seqs: {},           // seq -> true for finals already shown
    dirty: {},          // form fields the agent changed by hand
    lastForm: null,
    submitted: null,    // complaint id filed from this call
    complaint: null,    // the complaint object filed from this call
    submitting: false,
    follow: true,       // transcript follows the newest line
    calls: [],
    seenCalls: null,    // call ids already listed once
    newCalls: {},       // active calls that appeared after the page loaded and were not opened yet
    mic: null
  };

  // ---- helpers ------------------------------------------------------------------------------
  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    var v = m ? m.getAttribute("content") || "" : "";
    return v.indexOf("__") === 0 ? "" : v;
  }

  function $(id) { return document.getElementById(id); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function str(v) { return typeof v === "string" ? v : (v === undefined || v === null ? "" : String(v)); }

  function clock(seconds) {
    var s = Math.max(0, Math.floor(Number(seconds) || 0));
    var m = Math.floor(s / 60);
    var r = s % 60;
    return (m < 10 ? "0" : "") + m + ":" + (r < 10 ? "0" : "") + r;
  }

  function when(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    try {
      return d.toLocaleString("ko-KR", { timeZone: "Asia/Seoul", month: "numeric", day: "numeric",
        hour: "2-digit", minute: "2-digit", hour12: false });
    } catch (e) {
      return d.toISOString().slice(5, 16).replace("T", " ");
    }
  }

  function api(path, options) {
    options = options || {};
    var init = { method: options.method || "GET", credentials: "same-origin", headers: { Accept: "application/json" } };
    if (init.method !== "GET") {
      init.headers["X-CSRF-Token"] = csrf;
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body === undefined ? {} : options.body);
    }
    return fetch(path, init).then(function (res) {
      if (res.status === 401) {
        window.location.assign("/agent/login");
        var gone = new Error("로그인이 필요합니다.");
        gone.status = 401;
        throw gone;
      }
      return res.json().catch(function () { return {}; }).then(function (data) {
        if (!res.ok) {
          var err = new Error(str(data && data.message) || "요청을 처리하지 못했습니다. 잠시 후 다시 시도해 주세요.");
          err.status = res.status;
          throw err;
        }
        return data;
      });
    }, function () {
      throw new Error("서버에 연결할 수 없습니다. 네트워크를 확인해 주세요.");
    });
  }

  function wsUrl(path) {
    return (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + path;
  }

  // ---- connection status ----------------------------------------------------------------------
  function setStatus(kind, text) {
    var s = $("status");
    s.setAttribute("data-state", kind);
    s.textContent = text;
  }

  function flashError(text) { // a server error on a live socket: shown for a while, then the state again
    var serial = state.wsSerial;
    setStatus("error", text);
    setTimeout(function () {
      if (serial === state.wsSerial && state.ws && state.ws.readyState === 1) setStatus("open", "실시간 연결됨");
    }, 6000);
  }

  // ---- transcript ------------------------------------------------------------------------------
  function nearBottom() {
    var t = $("transcript");
    return t.scrollHeight - t.scrollTop - t.clientHeight <= NEAR_BOTTOM_PX;
  }

  function afterInsert() {
    var t = $("transcript");
    if (state.follow) {
      t.scrollTop = t.scrollHeight;
      $("jump-latest").hidden = true;
    } else {
      $("jump-latest").hidden = false;
    }
  }

  function makeLine(kind, msg) {
    var speaker = msg.speaker === "agent" ? "agent" : "caller";
    var line = el("div", "line " + kind + " " + speaker);
    line.setAttribute("data-speaker", speaker);
    if (msg.seq !== undefined) line.setAttribute("data-seq", str(msg.seq));
    var who = el("span", "who", SPEAKER[speaker]);
    var at = el("span", "at", msg.start !== undefined ? clock(msg.start) : "");
    var text = el("span", "text", str(msg.text));
    line.appendChild(who);
    line.appendChild(at);
    line.appendChild(text);
    if (kind === "partial") line.setAttribute("aria-hidden", "true"); // screen readers hear the final only
    return line;
  }

  function onTranscript(msg) {
    var box = $("transcript");
    // the agent may have scrolled up a moment ago and the scroll event not have run yet: decide on
    // where the view is now, before the new line changes the height
    if (state.follow && !nearBottom()) state.follow = false;
    $("transcript-empty").hidden = true;
    var speaker = msg.speaker === "agent" ? "agent" : "caller";
    var old = state.partial[speaker];
    if (msg.kind === "partial") {
      if (old) {
        old.querySelector(".text").textContent = str(msg.text);
        if (msg.start !== undefined) old.querySelector(".at").textContent = clock(msg.start);
      } else {
        state.partial[speaker] = makeLine("partial", msg);
        box.appendChild(state.partial[speaker]);
      }
      afterInsert();
      return;
    }
    if (msg.seq !== undefined && state.seqs[msg.seq]) return; // already shown (replayed history)
    if (msg.seq !== undefined) state.seqs[msg.seq] = true;
    if (old) {
      box.removeChild(old);
      delete state.partial[speaker];
    }
    var line = makeLine("final", msg);
    var firstPartial = box.querySelector(".line.partial");
    box.insertBefore(line, firstPartial); // finals stay above the other speaker's running partial
    afterInsert();
  }

  function resetCall() {
    var box = $("transcript");
    Array.prototype.slice.call(box.querySelectorAll(".line")).forEach(function (n) { box.removeChild(n); });
    $("transcript-empty").hidden = false;
    state.partial = {};
    state.seqs = {};
    state.follow = true;
    $("jump-latest").hidden = true;
    var sug = $("suggestions");
    clear(sug);
    sug.appendChild(el("p", "muted pad", "민원인의 질문이 인식되면 추천 답변과 출처가 여기에 표시됩니다."));
    setIntent({ intent: "", label: "" });
    $("summary").hidden = true;
    $("call-state").hidden = true;
    $("call-info").textContent = "";
    resetForm();
  }

  // ---- intent, suggestions, summary -------------------------------------------------------------
  function setIntent(msg) {
    var badge = $("intent");
    badge.textContent = str(msg.label) || str(msg.intent) || "—";
    badge.setAttribute("data-intent", str(msg.intent));
    if (msg.intent) badge.title = str(msg.intent);
    else badge.removeAttribute("title");
  }

  function onSuggestion(msg) {
    var box = $("suggestions");
    var placeholder = box.querySelector("p.pad");
    if (placeholder) box.removeChild(placeholder);
    var card = el("article", "suggestion");
    if (msg.based_on_seq !== undefined) card.setAttribute("data-seq", str(msg.based_on_seq));
    if (msg.query) {
      var q = el("p", "query");
      q.appendChild(el("span", "query-label", "질문 "));
      q.appendChild(el("span", "query-text", str(msg.query)));
      card.appendChild(q);
    }
    var answers = Array.isArray(msg.answers) ? msg.answers : [];
    if (!answers.length) card.appendChild(el("p", "answer abstained", "관련 문서에서 답을 찾지 못했습니다."));
    answers.slice(0, 3).forEach(function (a) {
      var block = el("div", "answer" + (a && a.abstained ? " abstained" : ""));
      block.appendChild(el("p", "answer-text",
        str(a && a.text) || (a && a.abstained ? "관련 문서에서 답을 찾지 못했습니다." : "")));
      var cites = Array.isArray(a && a.citations) ? a.citations : [];
      if (cites.length) {
        var list = el("ul", "citations");
        cites.slice(0, 5).forEach(function (c) {
          var item = el("li", "citation");
          var details = el("details");
          var head = el("summary");
          head.appendChild(el("span", "doc", str(c && c.document)));
          if (c && c.section) {
            head.appendChild(el("span", "sep", " · "));
            head.appendChild(el("span", "section", str(c.section)));
          }
          details.appendChild(head);
          details.appendChild(el("p", "cite-text", str(c && c.text)));
          item.appendChild(details);
          list.appendChild(item);
        });
        block.appendChild(list);
      }
      card.appendChild(block);
    });
    box.insertBefore(card, box.firstChild); // newest first
    var cards = box.querySelectorAll(".suggestion");
    for (var i = 3; i < cards.length; i++) box.removeChild(cards[i]);
    if (cards.length > 1) cards[1].classList.add("older");
  }

  function onSummary(msg) {
    var s = msg.summary || {};
    $("summary-duration").textContent = clock(s.duration_s);
    var badge = $("intent");
    $("summary-intent").textContent = (s.intent && badge.getAttribute("data-intent") === s.intent
      ? badge.textContent : str(s.intent)) || "—";
    $("summary-turns").textContent = "민원인 " + (Number(s.caller_turns) || 0) + "회 · 상담원 " +
      (Number(s.agent_turns) || 0) + "회";
    $("summary-complaint").textContent = str(s.complaint_id) || state.submitted || "없음";
    $("summary-text").textContent = str(s.text);
    $("summary").hidden = false;
    if (state.follow) $("summary").scrollIntoView({ block: "nearest" });
  }

  function setCallStatus(status) {
    var badge = $("call-state");
    badge.hidden = false;
    if (status === "ended") {
      badge.textContent = "통화 종료";
      badge.className = "badge ended";
      Object.keys(state.partial).forEach(function (k) { // a call that ended keeps no running partial
        var n = state.partial[k];
        if (n.parentNode) n.parentNode.removeChild(n);
      });
      state.partial = {};
      if (state.mic && state.mic.callId === state.callId) stopMic(false);
    } else {
      badge.textContent = "통화 중";
      badge.className = "badge active";
    }
    if (state.call) state.call.status = status;
    markCallInList(state.callId, status);
  }

  function callerLabel(call) {
    if (call.caller) return str(call.caller);
    return call.source === "mic" ? "창구 마이크 상담" : "발신번호 없음";
  }

  function renderCallInfo(call) {
    var parts = [];
    parts.push(callerLabel(call));
    parts.push(SOURCE[call.source] || str(call.source));
    if (call.started_at) parts.push(when(call.started_at) + " 시작");
    if (state.me && state.me.supervisor && call.agent) parts.push("상담원 " + str(call.agent));
    $("call-info").textContent = parts.join(" · ");
  }

  // ---- complaint form ----------------------------------------------------------------------------
  function formEl() { return $("complaint-form"); }

  function field(name) { return formEl().elements.namedItem(name); }

  function resetForm() {
    var form = formEl();
    form.reset();
    FIELDS.forEach(function (name) {
      var f = field(name);
      if (f) f.classList.remove("prefilled", "edited");
    });
    state.dirty = {};
    state.lastForm = null;
    state.submitted = null;
    state.complaint = null;
    state.submitting = false;
    var r = $("form-result");
    r.textContent = "";
    r.className = "form-result";
    r.removeAttribute("data-complaint-id");
    updateSubmit();
  }

  function updateSubmit() {
    var button = $("submit-form");
    button.disabled = !state.callId || state.submitting || !!state.submitted;
    button.textContent = state.submitting ? "접수하는 중…" : (state.submitted ? "접수됨" : "접수");
  }

  function onForm(msg) {
    var data = msg.form || {};
    state.lastForm = data;
    FIELDS.forEach(function (name) {
      if (!(name in data) || state.dirty[name]) return; // never overwrite what the agent typed
      var f = field(name);
      if (!f) return;
      if (BOOL_FIELDS[name]) f.checked = !!data[name];
      else f.value = str(data[name]);
      var has = BOOL_FIELDS[name] ? !!data[name] : str(data[name]) !== "";
      f.classList.toggle("prefilled", has);
    });
  }

  function readForm() {
    var out = {};
    FIELDS.forEach(function (name) {
      var f = field(name);
      if (!f) return;
      out[name] = BOOL_FIELDS[name] ? !!f.checked : f.value.trim();
    });
    return out;
  }

  function showResult(text, kind) {
    var r = $("form-result");
    r.textContent = text;
    r.className = "form-result" + (kind ? " " + kind : "");
  }

  function onSubmitted(complaint) {
    if (!complaint || !complaint.id) return;
    state.submitted = str(complaint.id);
    state.complaint = complaint;
    state.submitting = false;
    var parts = ["접수 완료 · 접수번호 " + str(complaint.id)];
    if (complaint.team) parts.push("담당 " + str(complaint.team));
    if (complaint.urgent) parts.push("긴급");
    if (complaint.expected_datetime) parts.push("처리 예정 " + when(complaint.expected_datetime));
    if (complaint.duplicate_of) parts.push("기존 민원 " + str(complaint.duplicate_of) + "과 같은 건으로 연결됨");
    showResult(parts.join(" · "), "ok");
    $("form-result").setAttribute("data-complaint-id", state.submitted);
    if ($("summary").hidden === false && $("summary-complaint").textContent === "없음") {
      $("summary-complaint").textContent = state.submitted;
    }
    updateSubmit();
  }

  function submitForm(ev) {
    if (ev) ev.preventDefault();
    if (!state.callId || state.submitting || state.submitted) return;
    var form = readForm();
    if (form.description.replace(/\s/g, "").length < 2) {
      showResult("민원 내용을 입력해 주세요.", "error");
      field("description").focus();
      return;
    }
    if (form.contact_phone && !form.consent) {
      showResult("연락처를 남기려면 개인정보 수집·이용 동의를 받아 체크해 주세요.", "error");
      field("consent").focus();
      return;
    }
    state.submitting = true;
    updateSubmit();
    showResult("접수하는 중…", "");
    var callId = state.callId;
    api("/agent/api/calls/" + encodeURIComponent(callId) + "/complaint", { method: "POST", body: form })
      .then(function (data) {
        if (callId !== state.callId) return;
        state.submitting = false;
        if (data && data.complaint) onSubmitted(data.complaint);
        else { showResult("접수 결과를 확인하지 못했습니다. 통화 목록을 새로고침해 주세요.", "error"); updateSubmit(); }
      })
      .catch(function (err) {
        if (callId !== state.callId) return;
        state.submitting = false;
        showResult(err.message, "error");
        updateSubmit();
      });
  }

  function onFormKey(ev) {
    var t = ev.target;
    if (ev.key !== "Enter" || ev.isComposing || ev.keyCode === 229) return; // Korean IME composing
    if (ev.ctrlKey || ev.metaKey) { ev.preventDefault(); submitForm(); return; }
    if (t.tagName === "INPUT" && t.type !== "checkbox" && t.type !== "submit") {
      ev.preventDefault(); // Enter never files a complaint by accident: it moves to the next field
      var items = Array.prototype.filter.call(formEl().elements, function (x) {
        return (x.tagName === "INPUT" || x.tagName === "TEXTAREA" || x.tagName === "BUTTON") && !x.disabled;
      });
      var i = items.indexOf(t);
      if (i >= 0 && i + 1 < items.length) items[i + 1].focus();
    }
  }

  function onFormEdit(ev) {
    var name = ev.target && ev.target.name;
    if (!name || FIELDS.indexOf(name) < 0) return;
    state.dirty[name] = true;
    ev.target.classList.remove("prefilled");
    ev.target.classList.add("edited");
    if ($("form-result").classList.contains("error")) showResult("", "");
  }

  // ---- console WebSocket ------------------------------------------------------------------------
  function handle(msg, replay) {
    if (!msg || typeof msg !== "object") return;
    switch (msg.type) {
      case "transcript": onTranscript(msg); break;
      case "intent": setIntent(msg); break;
      case "suggestion": onSuggestion(msg); break;
      case "form": onForm(msg); break;
      case "summary": onSummary(msg); break;
      case "status": setCallStatus(msg.status); if (!replay) loadCalls(); break;
      case "form_submitted": onSubmitted(msg.complaint); break;
      case "error":
        if (state.submitting) { state.submitting = false; updateSubmit(); showResult(str(msg.message), "error"); }
        else if (!replay) flashError(str(msg.message) || "오류가 발생했습니다.");
        break;
      case "hello": onHello(msg); break;
      default: break; // pong and unknown types
    }
  }

  function onHello(msg) {
    var keep = state.dirty;
    var values = readForm();
    var complaint = state.complaint;
    resetCall();
    if (state.call && msg.call && state.call.call_id === msg.call.call_id) { // reconnect: keep agent edits
      state.dirty = keep;
      Object.keys(keep).forEach(function (name) {
        var f = field(name);
        if (!f) return;
        if (BOOL_FIELDS[name]) f.checked = !!values[name]; else f.value = values[name];
        f.classList.add("edited");
      });
      if (complaint) onSubmitted(complaint);
    }
    state.call = msg.call || null;
    if (state.call) {
      renderCallInfo(state.call);
      setCallStatus(state.call.status === "ended" ? "ended" : "active");
    }
    (Array.isArray(msg.history) ? msg.history : []).forEach(function (m) { handle(m, true); });
    updateSubmit();
    var t = $("transcript");
    t.scrollTop = t.scrollHeight;
  }

  function stopSocket() {
    state.wsSerial++;
    if (state.retryTimer) { clearTimeout(state.retryTimer); state.retryTimer = null; }
    if (state.pingTimer) { clearInterval(state.pingTimer); state.pingTimer = null; }
    if (state.ws) {
      try { state.ws.close(1000); } catch (e) { /* already closed */ }
      state.ws = null;
    }
  }

  function connect() {
    stopSocket();
    if (!state.callId) { setStatus("idle", "통화를 선택하세요"); return; }
    var serial = state.wsSerial;
    var callId = state.callId;
    setStatus("connecting", state.retry ? "다시 연결하는 중…" : "연결하는 중…");
    var ws;
    try {
      ws = new WebSocket(wsUrl("/agent/calls/" + encodeURIComponent(callId)));
    } catch (e) {
      scheduleRetry(serial);
      return;
    }
    state.ws = ws;
    ws.onopen = function () {
      if (serial !== state.wsSerial) return;
      state.retry = 0;
      state.lastSeen = Date.now();
      setStatus("open", "실시간 연결됨");
      state.pingTimer = setInterval(function () {
        if (serial !== state.wsSerial) return;
        if (Date.now() - state.lastSeen > STALE_MS) { // silent connection: drop it and reconnect
          try { ws.close(4000); } catch (e) { /* ignore */ }
          return;
        }
        if (ws.readyState === 1) ws.send(JSON.stringify({ type: "ping" }));
      }, PING_MS);
    };
    ws.onmessage = function (ev) {
      if (serial !== state.wsSerial) return;
      state.lastSeen = Date.now();
      if (typeof ev.data !== "string") return;
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      handle(msg, false);
    };
    ws.onclose = function (ev) {
      if (serial !== state.wsSerial) return;
      if (state.pingTimer) { clearInterval(state.pingTimer); state.pingTimer = null; }
      state.ws = null;
      if (ev.code === 4401) { setStatus("closed", "로그인이 필요합니다."); window.location.assign("/agent/login"); return; }
      if (ev.code === 4403) { setStatus("closed", "이 통화를 볼 권한이 없습니다."); return; }
      if (ev.code === 4404) { setStatus("closed", "없는 통화입니다. 목록에서 다시 선택해 주세요."); loadCalls(); return; }
      if (ev.code === 4409) { setStatus("closed", "이미 종료된 통화입니다."); return; }
      scheduleRetry(serial);
    };
    ws.onerror = function () { /* onclose follows */ };
  }

  function scheduleRetry(serial) {
    if (serial !== state.wsSerial) return;
    var delay = Math.min(10, Math.pow(2, state.retry));
    state.retry++;
    var left = delay;
    setStatus("retrying", "연결 끊김 · " + left + "초 후 다시 연결");
    var tick = function () {
      if (serial !== state.wsSerial) return;
      left--;
      if (left <= 0) { state.retryTimer = null; connect(); return; }
      setStatus("retrying", "연결 끊김 · " + left + "초 후 다시 연결");
      state.retryTimer = setTimeout(tick, 1000);
    };
    state.retryTimer = setTimeout(tick, 1000);
  }

  // ---- call list and selection ------------------------------------------------------------------
  function markCallInList(callId, status) {
    Array.prototype.forEach.call(document.querySelectorAll("#calls a.call-link"), function (a) {
      if (a.getAttribute("data-call-id") !== callId) return;
      a.setAttribute("data-status", status);
      var badge = a.querySelector(".call-status");
      if (badge) badge.textContent = status === "ended" ? "종료" : "통화 중";
    });
  }

  function renderCalls(calls) {
    var list = $("calls");
    clear(list);
    $("calls-empty").hidden = calls.length > 0;
    var seen = state.seenCalls;
    calls.forEach(function (c) {
      var id = str(c.call_id);
      var li = el("li");
      if (seen !== null && !seen[id] && c.status !== "ended" && id !== state.callId) state.newCalls[id] = true;
      if (c.status === "ended") delete state.newCalls[id];
      var fresh = !!state.newCalls[id];
      var a = el("a", "call-link" + (fresh ? " new" : ""));
      a.href = "#call=" + encodeURIComponent(id);
      a.setAttribute("data-call-id", id);
      a.setAttribute("data-status", str(c.status));
      if (id === state.callId) a.setAttribute("aria-current", "true");
      var top = el("span", "call-top");
      top.appendChild(el("span", "call-status", c.status === "ended" ? "종료" : "통화 중"));
      if (fresh) top.appendChild(el("span", "call-new", "새 통화"));
      top.appendChild(el("span", "call-time", when(c.started_at)));
      top.appendChild(el("span", "call-source", SOURCE[c.source] || str(c.source)));
      a.appendChild(top);
      a.appendChild(el("span", "call-caller", callerLabel(c)));
      if (state.me && state.me.supervisor && c.agent) a.appendChild(el("span", "call-agent", "상담원 " + str(c.agent)));
      li.appendChild(a);
      list.appendChild(li);
    });
    if (seen === null) state.seenCalls = {};
    calls.forEach(function (c) { state.seenCalls[str(c.call_id)] = true; });
    updateTitle();
  }

  function updateTitle() { // new calls waiting show in the tab title too
    var waiting = Object.keys(state.newCalls).length;
    document.title = (waiting ? "(새 통화 " + waiting + "건) " : "") + "상담원 콘솔 · 남양주시 민원콜센터";
  }

  function loadCalls() {
    return api("/agent/api/calls").then(function (data) {
      var calls = Array.isArray(data && data.calls) ? data.calls.slice() : [];
      calls.sort(function (x, y) { // active first, then newest
        if ((x.status === "ended") !== (y.status === "ended")) return x.status === "ended" ? 1 : -1;
        return str(y.started_at).localeCompare(str(x.started_at));
      });
      state.calls = calls;
      renderCalls(calls);
      if (!state.callId) { // nothing selected yet: open the newest active call
        var active = calls.filter(function (c) { return c.status !== "ended"; })[0];
        if (active) selectCall(str(active.call_id));
      }
    }).catch(function (err) {
      if (err.status !== 401) $("calls-empty").hidden = true;
      if (!state.callId) setStatus("error", "통화 목록을 불러오지 못했습니다: " + err.message);
    });
  }

  function callFromHash() {
    var m = /(?:^#|&)call=([^&]+)/.exec(window.location.hash);
    if (!m) return null;
    try { return decodeURIComponent(m[1]); } catch (e) { return null; }
  }

  function selectCall(callId) {
    if (!callId) return;
    if (callFromHash() !== callId) {
      history.replaceState(null, "", "#call=" + encodeURIComponent(callId));
    }
    if (state.callId === callId && state.ws) return;
    state.callId = callId;
    delete state.newCalls[callId];
    updateTitle();
    state.call = null;
    state.retry = 0;
    resetCall();
    Array.prototype.forEach.call(document.querySelectorAll("#calls a.call-link"), function (a) {
      if (a.getAttribute("data-call-id") === callId) {
        a.setAttribute("aria-current", "true");
        a.classList.remove("new");
        var badge = a.querySelector(".call-new");
        if (badge) badge.parentNode.removeChild(badge);
      } else a.removeAttribute("aria-current");
    });
    connect();
  }

  // ---- microphone mode ------------------------------------------------------------------------
  function micState(text, kind) {
    var p = $("mic-state");
    p.textContent = text;
    p.className = "mic-state" + (kind ? " " + kind : "");
  }

  /* Streaming downsampler: box-filter each output sample over the input samples it covers (a simple
   * anti-aliasing low-pass), keeping the fractional position across chunks. */
  function Downsampler(inRate) {
    this.ratio = inRate / TARGET_RATE;
    this.pos = 0;        // position of the next output sample in the running input timeline
    this.carry = new Float32Array(0);
  }
  Downsampler.prototype.push = function (input) {
    var data = new Float32Array(this.carry.length + input.length);
    data.set(this.carry, 0);
    data.set(input, this.carry.length);
    var ratio = this.ratio;
    var out = [];
    var pos = this.pos;
    if (ratio <= 1) {
      while (pos < data.length) { out.push(data[Math.floor(pos)]); pos += ratio; }
    } else {
      while (pos + ratio <= data.length) {
        var start = Math.floor(pos);
        var end = Math.min(data.length, Math.floor(pos + ratio));
        var sum = 0;
        for (var i = start; i < end; i++) sum += data[i];
        out.push(end > start ? sum / (end - start) : data[start]);
        pos += ratio;
      }
    }
    var keep = Math.floor(pos);
    this.carry = data.slice(keep);
    this.pos = pos - keep;
    return out;
  };

  function toPcm16(samples) {
    var buf = new ArrayBuffer(samples.length * 2);
    var view = new DataView(buf);
    for (var i = 0; i < samples.length; i++) {
      var s = Math.max(-1, Math.min(1, samples[i]));
      view.setInt16(i * 2, s < 0 ? Math.round(s * 0x8000) : Math.round(s * 0x7fff), true);
    }
    return new Uint8Array(buf);
  }

  function onMicSamples(mic, block) {
    if (mic !== state.mic) return;
    var sq = 0;
    for (var i = 0; i < block.length; i++) sq += block[i] * block[i];
    var rms = Math.sqrt(sq / Math.max(1, block.length));
    $("mic-level").value = Math.min(1, rms * 4);
    var bytes = toPcm16(mic.down.push(block));
    var merged = new Uint8Array(mic.pending.length + bytes.length);
    merged.set(mic.pending, 0);
    merged.set(bytes, mic.pending.length);
    var off = 0;
    while (merged.length - off >= FRAME_BYTES) {
      var frame = merged.slice(off, off + FRAME_BYTES);
      off += FRAME_BYTES;
      if (mic.ws && mic.ws.readyState === 1) {
        mic.ws.send(frame.buffer);
        mic.sent += FRAME_BYTES;
      }
    }
    mic.pending = merged.slice(off);
  }

  function openMicSocket(mic) {
    if (mic !== state.mic || mic.stopping) return;
    var ws = new WebSocket(wsUrl("/agent/calls/" + encodeURIComponent(mic.callId) + "/audio"));
    ws.binaryType = "arraybuffer";
    mic.ws = ws;
    ws.onopen = function () {
      if (mic !== state.mic) return;
      mic.retry = 0;
      micState("마이크 켜짐 · 말씀하시면 실시간으로 받아 적습니다.", "on");
    };
    ws.onmessage = function (ev) {
      if (typeof ev.data !== "string") return;
      try {
        var msg = JSON.parse(ev.data);
        if (msg && msg.type === "error") micState(str(msg.message), "error");
      } catch (e) { /* ignore */ }
    };
    ws.onclose = function (ev) {
      if (mic !== state.mic || mic.stopping) return;
      mic.ws = null;
      if (ev.code === 4401 || ev.code === 4403 || ev.code === 4404 || ev.code === 4409 || mic.retry >= 5) {
        micState("마이크 음성 연결이 끊겼습니다. 다시 시작해 주세요.", "error");
        stopMic(false);
        return;
      }
      mic.retry++;
      micState("마이크 음성 연결이 끊겨 다시 연결하는 중…", "error");
      setTimeout(function () { openMicSocket(mic); }, 1000 * mic.retry);
    };
  }

  function startMic() {
    if (state.mic) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      micState("이 브라우저(또는 https가 아닌 주소)에서는 마이크를 쓸 수 없습니다.", "error");
      return;
    }
    var AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) { micState("이 브라우저는 오디오 처리를 지원하지 않습니다.", "error"); return; }
    var button = $("mic-start");
    button.disabled = true;
    micState("마이크를 준비하는 중…", "");
    var mic = { callId: null, ws: null, ctx: null, stream: null, node: null, source: null, sink: null,
      down: null, pending: new Uint8Array(0), sent: 0, retry: 0, stopping: false, mode: "" };
    state.mic = mic;
    // raw speech for the recogniser: the console plays no sound (no echo to cancel) and WebRTC noise
    // suppression leaves artefacts that cost STT accuracy; automatic gain keeps quiet speakers audible
    navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false,
      autoGainControl: true }, video: false })
      .then(function (stream) {
        mic.stream = stream;
        if (mic !== state.mic) throw new Error("cancelled");
        return api("/agent/api/calls", { method: "POST", body: {} });
      })
      .then(function (data) {
        if (mic !== state.mic) throw new Error("cancelled");
        mic.callId = str(data && data.call_id);
        if (!mic.callId) throw new Error("통화를 만들지 못했습니다.");
        mic.ctx = new AC();
        mic.down = new Downsampler(mic.ctx.sampleRate);
        mic.source = mic.ctx.createMediaStreamSource(mic.stream);
        var ready = mic.ctx.audioWorklet && typeof AudioWorkletNode === "function"
          ? mic.ctx.audioWorklet.addModule("/agent/agent.js").then(function () {
            var node = new AudioWorkletNode(mic.ctx, "nyj-pcm-collector", { numberOfInputs: 1, numberOfOutputs: 1,
              outputChannelCount: [1] });
            node.port.onmessage = function (ev) { onMicSamples(mic, ev.data); };
            mic.node = node;
            mic.mode = "worklet";
            mic.sink = mutedSink(mic.ctx); // the graph only pulls nodes that lead to the output
          }).catch(function () { return useScriptProcessor(mic); })
          : Promise.resolve(useScriptProcessor(mic));
        return ready;
      })
      .then(function () {
        if (mic !== state.mic) throw new Error("cancelled");
        mic.source.connect(mic.node);
        if (mic.sink) mic.node.connect(mic.sink);
        return mic.ctx.resume();
      })
      .then(function () {
        if (mic !== state.mic) return;
        $("mic-stop").hidden = false;
        button.hidden = true;
        button.disabled = false;
        $("mic-level").hidden = false;
        openMicSocket(mic);
        selectCall(mic.callId);
        loadCalls();
      })
      .catch(function (err) {
        if (mic !== state.mic) return;
        var text = err && err.name === "NotAllowedError" ? "마이크 사용이 허용되지 않았습니다. 브라우저 설정에서 허용해 주세요."
          : err && err.name === "NotFoundError" ? "연결된 마이크가 없습니다."
          : (err && err.message && err.message !== "cancelled" ? err.message : "마이크를 시작하지 못했습니다.");
        stopMic(false);
        micState(text, "error");
      });
  }

  function useScriptProcessor(mic) {
    var node = mic.ctx.createScriptProcessor(4096, 1, 1);
    node.onaudioprocess = function (ev) { onMicSamples(mic, new Float32Array(ev.inputBuffer.getChannelData(0))); };
    mic.node = node;
    mic.mode = "script-processor";
    mic.sink = mutedSink(mic.ctx); // a ScriptProcessor only runs when connected to the output
  }

  function mutedSink(ctx) {
    var mute = ctx.createGain();
    mute.gain.value = 0;
    mute.connect(ctx.destination);
    return mute;
  }

  function stopMic(sendStop) {
    var mic = state.mic;
    if (!mic) return;
    mic.stopping = true;
    state.mic = null;
    if (mic.ws) {
      var ws = mic.ws;
      if (sendStop && ws.readyState === 1) {
        if (mic.pending.length) ws.send(mic.pending.slice().buffer); // the last partial frame
        ws.send(JSON.stringify({ type: "stop" }));
        setTimeout(function () { try { ws.close(1000); } catch (e) { /* ignore */ } }, 1500);
      } else {
        try { ws.close(1000); } catch (e) { /* ignore */ }
      }
    }
    if (mic.node) { try { mic.node.disconnect(); } catch (e) { /* ignore */ } }
    if (mic.source) { try { mic.source.disconnect(); } catch (e) { /* ignore */ } }
    if (mic.stream) mic.stream.getTracks().forEach(function (t) { t.stop(); });
    if (mic.ctx) mic.ctx.close().catch(function () { return null; });
    $("mic-stop").hidden = true;
    $("mic-start").hidden = false;
    $("mic-start").disabled = false;
    $("mic-level").hidden = true;
    $("mic-level").value = 0;
    micState(sendStop ? "마이크를 껐습니다. 통화 요약을 기다리는 중…" : "", "");
  }

  // ---- start-up ---------------------------------------------------------------------------------
  function logout() {
    stopMic(true);
    stopSocket();
    api("/agent/logout", { method: "POST" }).catch(function () { return null; })
      .then(function () { window.location.assign("/agent/login"); });
  }

  function init() {
    var user = meta("nyj-user");
    if (user) $("user-name").textContent = user;
    api("/agent/api/me").then(function (me) {
      state.me = me || {};
      $("user-name").textContent = str(state.me.username) || user;
      $("user-role").hidden = !state.me.supervisor;
      $("calls-title").textContent = state.me.supervisor ? "전체 통화" : "나의 통화";
      if (state.me.supervisor) renderCalls(state.calls);
    }).catch(function () { return null; });

    $("logout").addEventListener("click", logout);
    $("calls-refresh").addEventListener("click", function () { loadCalls(); });
    $("calls").addEventListener("click", function (ev) {
      var a = ev.target.closest ? ev.target.closest("a.call-link") : null;
      if (!a) return;
      ev.preventDefault();
      selectCall(a.getAttribute("data-call-id"));
      $("transcript-title").focus();
    });
    window.addEventListener("hashchange", function () {
      var id = callFromHash();
      if (id && id !== state.callId) selectCall(id);
    });
    var box = $("transcript");
    box.addEventListener("scroll", function () {
      state.follow = nearBottom();
      if (state.follow) $("jump-latest").hidden = true;
    });
    $("jump-latest").addEventListener("click", function () {
      state.follow = true;
      afterInsert();
    });
    var form = formEl();
    form.addEventListener("submit", submitForm);
    form.addEventListener("keydown", onFormKey);
    form.addEventListener("input", onFormEdit);
    form.addEventListener("change", onFormEdit);
    $("mic-start").addEventListener("click", startMic);
    $("mic-stop").addEventListener("click", function () { stopMic(true); });
    window.addEventListener("online", function () { if (state.callId && !state.ws) connect(); });
    window.addEventListener("beforeunload", function () { if (state.mic) stopMic(true); });

    // read-only handle for troubleshooting from the devtools console (and the browser tests)
    window.nyjConsole = {
      callId: function () { return state.callId; },
      socket: function () { return state.ws; },
      micBytesSent: function () { return state.mic ? state.mic.sent : 0; },
      micMode: function () { return state.mic ? state.mic.mode || "" : ""; }
    };
    updateSubmit();
    var first = callFromHash();
    if (first) selectCall(first);
    loadCalls();
    setInterval(function () { if (!document.hidden) loadCalls(); }, CALLS_REFRESH_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();

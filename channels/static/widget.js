/*!
 * 남양주시 AI 민원 안내 — embeddable chat widget (one file, no dependencies, no build step).
 *
 * Embed with one tag:
 *   <script src="https://HOST/widget.js" defer></script>
 * Optional attributes on that tag:
 *   data-api="https://HOST"   API base (default: the origin this script was loaded from)
 *   data-title="..."          panel title (default "남양주시 AI 민원 안내")
 *   data-open="true"          open the panel when the page loads
 *
 * Talks to POST {api}/api/chat/stream (text/event-stream: meta, delta..., done), falls back to
 * POST {api}/api/chat (JSON), sends ratings to POST {api}/api/feedback and complaint photos to
 * POST {api}/api/uploads (multipart, field "file"). See README.md.
 *
 * Security: every piece of user or server text goes into the page through textContent /
 * createTextNode. innerHTML is never used.
 */
(function () {
  'use strict';

  if (window.__nyjChatWidget) return; // loaded twice on the same page: keep the first one
  window.__nyjChatWidget = true;

  var MAX_CHARS = 1000;
  var IDLE_TIMEOUT_MS = 45000;
  var UPLOAD_TIMEOUT_MS = 90000; // a 5 MB photo over a slow phone connection
  var PHOTO_MAX_BYTES = 5 * 1024 * 1024;
  var PHOTO_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/gif'];
  var KEY_SESSION = 'nyj-session-id';
  var KEY_LARGE = 'nyj-large-text';
  var SVG_NS = 'http://www.w3.org/2000/svg';

  // ---- configuration from the <script> tag ----------------------------------------------------
  var script = document.currentScript || (function () {
    var all = document.querySelectorAll('script[src]');
    for (var i = all.length - 1; i >= 0; i--) {
      if (/\/widget\.js(?:[?#]|$)/.test(all[i].src)) return all[i];
    }
    return null;
  })();
  var data = (script && script.dataset) || {};
  var API = (data.api || (script && script.src ? new URL(script.src, location.href).origin : location.origin))
    .replace(/\/+$/, '');

  var T = {
    launcher: '민원 상담 챗봇',
    title: data.title || '남양주시 AI 민원 안내',
    close: '상담 창 닫기',
    large: '글자 크게',
    log: '상담 내용',
    you: '나: ',
    bot: '챗봇: ',
    typing: '답변을 준비하고 있어요…',
    inputLabel: '문의 내용 입력',
    placeholder: '궁금한 점을 적어 주세요',
    send: '보내기',
    agent: '상담원 연결',
    photo: '사진 첨부',
    photoAlt: '보낸 사진',
    uploading: '사진을 올리는 중…',
    photoInvalid: '사진은 5MB 이하의 JPG, PNG, GIF, WEBP 파일만 올릴 수 있어요.',
    photoFailed: '사진을 올리지 못했어요. 잠시 후 다시 시도해 주세요.',
    quick: '추천 질문',
    consent: '개인정보는 민원 처리에만 쓰이며 로그에는 가려서 저장됩니다.',
    sources: function (n) { return '출처 ' + n + '건'; },
    quote: '인용문 보기',
    rate: '답변 평가',
    up: '도움이 됐어요',
    down: '도움이 안 됐어요',
    thanks: '의견 감사합니다',
    feedbackFailed: '의견을 보내지 못했어요. 다시 눌러 주세요.',
    retry: '잠시 후 다시 시도해 주세요.',
    tooMany: '요청이 많아 잠시 후 다시 시도해 주세요.',
    tooLong: '메시지가 너무 길어요. 1,000자 이내로 줄여서 다시 보내 주세요.',
    invalid: '보내신 내용을 처리하지 못했어요. 내용을 확인하고 잠시 후 다시 시도해 주세요.',
    failed: '답변을 가져오지 못했어요. 잠시 후 다시 시도해 주세요.',
    complaint: '민원 접수 정보',
    complaintId: '접수번호',
    complaintTeam: '담당',
    complaintStatus: '상태',
    complaintDue: '처리 예정',
    complaintUrgent: '긴급',
    complaintDuplicate: '같은 내용의 민원',
    welcome: '안녕하세요. 남양주시 AI 민원 안내입니다.\n' +
      '시정 계획과 민원 절차를 안내하고, 생활 불편 민원을 접수해 드려요.\n' +
      '궁금한 점을 편하게 적어 주세요.',
    welcomeQuick: ['생활불편 민원 신고', '민원 처리 기간이 궁금해요']
  };

  // ---- styles (every class starts with nyj-) -----------------------------------------------------
  var BLUE = '#0b4a8b';
  var CSS = [
    '.nyj-root{all:initial;word-break:keep-all;overflow-wrap:anywhere;font-family:"Pretendard","Noto Sans KR","Malgun Gothic","Apple SD Gothic Neo","NanumGothic",system-ui,sans-serif;font-size:16px;line-height:1.55;color:#16181d;-webkit-text-size-adjust:100%}',
    '.nyj-root.nyj-large{font-size:20px}',
    '.nyj-root *,.nyj-root *::before,.nyj-root *::after{box-sizing:border-box}',
    '.nyj-root button,.nyj-root textarea{font:inherit;color:inherit;margin:0;letter-spacing:normal;text-transform:none;text-shadow:none}',
    '.nyj-root button{cursor:pointer;-webkit-tap-highlight-color:transparent}',
    '.nyj-root [hidden]{display:none!important}',
    '.nyj-root :focus{outline:none}',
    '.nyj-root :focus-visible{outline:3px solid #111;outline-offset:2px;box-shadow:0 0 0 2px #fff}',
    '.nyj-header :focus-visible{outline-color:#ffd23f;box-shadow:none}',
    '.nyj-sr{position:absolute!important;width:1px!important;height:1px!important;padding:0!important;margin:-1px!important;overflow:hidden!important;clip:rect(0 0 0 0)!important;white-space:nowrap!important;border:0!important}',
    '.nyj-root svg{width:1.3em;height:1.3em;flex:none;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}',
    // launcher
    '.nyj-launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;display:inline-flex;align-items:center;gap:8px;min-height:56px;padding:0 22px 0 18px;border:2px solid #fff;border-radius:999px;background:' + BLUE + ';color:#fff;font-weight:700;font-size:1.05em;line-height:1.2;box-shadow:0 6px 20px rgba(0,0,0,.32)}',
    '.nyj-launcher:hover{background:#083a6e}',
    '.nyj-launcher:focus-visible{outline:3px solid #111;outline-offset:3px}',
    // panel
    '.nyj-panel{position:fixed;right:20px;bottom:20px;z-index:2147483001;display:flex;flex-direction:column;width:400px;max-width:calc(100vw - 40px);height:680px;max-height:calc(100vh - 40px);background:#fff;border:1px solid #7b8597;border-radius:16px;box-shadow:0 12px 44px rgba(0,0,0,.32);overflow:hidden}',
    '.nyj-header{display:flex;align-items:center;gap:6px;flex:none;padding:8px 8px 8px 16px;background:' + BLUE + ';color:#fff}',
    '.nyj-title{flex:1;min-width:0;margin:0;padding:0;font-size:1.05em;font-weight:700;line-height:1.3;color:#fff}',
    '.nyj-hbtn{display:inline-flex;align-items:center;justify-content:center;min-width:44px;min-height:44px;padding:0 10px;border:2px solid rgba(255,255,255,.75);border-radius:10px;background:transparent;color:#fff;font-size:.85em;font-weight:700;white-space:nowrap}',
    '.nyj-hbtn:hover{background:rgba(255,255,255,.15)}',
    '.nyj-hbtn[aria-pressed="true"]{background:#fff;color:' + BLUE + '}',
    '.nyj-close{border-color:transparent}',
    // log
    '.nyj-log{flex:1;min-height:0;overflow-y:auto;overscroll-behavior:contain;display:flex;flex-direction:column;gap:12px;padding:16px 14px;background:#eef1f5}',
    '.nyj-msg{max-width:88%;padding:10px 14px;border-radius:16px;word-break:keep-all;overflow-wrap:anywhere}',
    '.nyj-user{align-self:flex-end;background:' + BLUE + ';color:#fff;border-bottom-right-radius:4px}',
    '.nyj-user.nyj-photo-msg{padding:4px}',
    '.nyj-thumb{display:block;max-width:min(200px,100%);max-height:200px;width:auto;height:auto;border-radius:12px 12px 2px 12px;background:#fff}',
    '.nyj-bot{align-self:flex-start;background:#fff;color:#16181d;border:1px solid #b9c1ce;border-bottom-left-radius:4px}',
    '.nyj-error{background:#fff3f2;border-color:#b3261e;color:#7f1d1d}',
    '.nyj-typing{display:flex;align-items:center;gap:8px;color:#374151}',
    '.nyj-dots{display:inline-flex;gap:4px}',
    '.nyj-dots i{width:7px;height:7px;border-radius:50%;background:#4b5563;animation:nyj-blink 1.2s infinite ease-in-out}',
    '.nyj-dots i:nth-child(2){animation-delay:.2s}.nyj-dots i:nth-child(3){animation-delay:.4s}',
    '@keyframes nyj-blink{0%,80%,100%{opacity:.25}40%{opacity:1}}',
    // citations
    '.nyj-cites{margin-top:10px;border-top:1px solid #d9dee6;font-size:.9em}',
    '.nyj-cites>summary{display:list-item;padding:10px 2px;font-weight:700;color:' + BLUE + ';cursor:pointer}',
    '.nyj-cites ol{margin:0 0 4px;padding:0 0 0 1.3em}',
    '.nyj-cites li{margin:0 0 8px;padding:0}',
    '.nyj-doc{display:block;font-weight:700;color:#16181d}',
    '.nyj-sec{display:block;color:#374151}',
    '.nyj-quote>summary{display:list-item;padding:8px 2px;color:' + BLUE + ';cursor:pointer}',
    '.nyj-quote-text{margin:0;padding:8px 10px;border-left:3px solid #9aa5b6;background:#f5f7fa;color:#1f2937;font-size:.95em}',
    // complaint card
    '.nyj-complaint{margin-top:10px;padding:8px 10px;border:1px solid #9aa5b6;border-radius:10px;background:#f5f7fa;font-size:.92em}',
    '.nyj-complaint-title{display:block;margin-bottom:4px;font-weight:700}',
    '.nyj-complaint dl{display:grid;grid-template-columns:auto 1fr;gap:2px 10px;margin:0}',
    '.nyj-complaint dt{font-weight:700;color:#374151}.nyj-complaint dd{margin:0}',
    '.nyj-badge{display:inline-block;margin-left:6px;padding:0 8px;border-radius:999px;background:#b3261e;color:#fff;font-size:.85em;font-weight:700}',
    // feedback
    '.nyj-fb{display:flex;flex-wrap:wrap;align-items:center;gap:8px;margin-top:8px}',
    '.nyj-fbbtn{display:inline-flex;align-items:center;justify-content:center;min-width:44px;min-height:44px;padding:0;border:2px solid #9aa5b6;border-radius:10px;background:#fff;color:#374151}',
    '.nyj-fbbtn:hover{border-color:' + BLUE + ';color:' + BLUE + '}',
    '.nyj-fbbtn[aria-pressed="true"]{border-color:' + BLUE + ';background:' + BLUE + ';color:#fff}',
    '.nyj-fbbtn[aria-disabled="true"]{cursor:default}',
    '.nyj-fbbtn[aria-disabled="true"]:not([aria-pressed="true"]){opacity:.55}',
    '.nyj-fb-note{font-size:.9em;color:#1f5130;font-weight:700}',
    '.nyj-fb-note.nyj-bad{color:#7f1d1d}',
    // quick replies
    '.nyj-quick{display:flex;flex-wrap:wrap;gap:8px;flex:none;max-height:128px;overflow-y:auto;padding:10px 12px;background:#fff;border-top:1px solid #d9dee6}',
    '.nyj-qr{min-height:44px;padding:6px 16px;border:2px solid ' + BLUE + ';border-radius:999px;background:#fff;color:' + BLUE + ';font-weight:700;font-size:.92em;line-height:1.3;text-align:left}',
    '.nyj-qr:hover{background:#e8f0fa}',
    // input area
    '.nyj-form{display:flex;align-items:flex-end;gap:8px;flex:none;margin:0;padding:10px 12px 6px;background:#fff;border-top:1px solid #d9dee6}',
    '.nyj-input{flex:1;min-width:0;min-height:48px;max-height:140px;resize:none;padding:11px 12px;border:2px solid #5b6678;border-radius:12px;background:#fff;color:#16181d;line-height:1.45}',
    '.nyj-input::placeholder{color:#5b6678;opacity:1}',
    '.nyj-input:focus-visible{border-color:' + BLUE + '}',
    '.nyj-send{flex:none;min-width:72px;min-height:48px;padding:0 14px;border:0;border-radius:12px;background:' + BLUE + ';color:#fff;font-weight:700}',
    '.nyj-send:hover{background:#083a6e}',
    '.nyj-root [aria-disabled="true"].nyj-send,.nyj-root [aria-disabled="true"].nyj-qr,.nyj-root [aria-disabled="true"].nyj-agent,.nyj-root [aria-disabled="true"].nyj-photo{opacity:.6;cursor:progress}',
    '.nyj-bar{display:flex;flex-wrap:wrap;align-items:center;justify-content:space-between;gap:6px 8px;flex:none;padding:2px 12px 4px;background:#fff}',
    '.nyj-actions{display:flex;flex-wrap:wrap;align-items:center;gap:8px}',
    '.nyj-agent{display:inline-flex;align-items:center;gap:6px;min-height:44px;padding:0 14px;border:2px solid #9a3412;border-radius:12px;background:#fff7ed;color:#7c2d12;font-weight:700;font-size:.92em}',
    '.nyj-agent:hover{background:#ffedd5}',
    '.nyj-photo{display:inline-flex;align-items:center;justify-content:center;gap:6px;min-width:44px;min-height:44px;padding:0 12px;border:2px solid ' + BLUE + ';border-radius:12px;background:#fff;color:' + BLUE + ';font-weight:700;font-size:.92em;white-space:nowrap}',
    '.nyj-photo:hover{background:#e8f0fa}',
    '.nyj-count{font-size:.85em;color:#4b5563;font-variant-numeric:tabular-nums}',
    '.nyj-count.nyj-near{color:#b3261e;font-weight:700}',
    '.nyj-consent{flex:none;margin:0;padding:0 12px 10px;background:#fff;color:#374151;font-size:.8em;line-height:1.45}',
    // phones: the panel takes the whole screen
    '@media (max-width:480px){' +
      '.nyj-panel{top:0;right:0;bottom:0;left:0;width:100%;max-width:none;height:100%;max-height:none;border:0;border-radius:0}' +
      '.nyj-launcher{right:12px;bottom:12px}' +
      '.nyj-msg{max-width:92%}' +
      '.nyj-quick{flex-wrap:nowrap;overflow-x:auto;overflow-y:hidden;max-height:none}' +
      '.nyj-qr{flex:none;white-space:nowrap}' +
      'html.nyj-lock,html.nyj-lock body{overflow:hidden!important}' +
    '}',
    '@media (prefers-reduced-motion:reduce){.nyj-dots i{animation:none;opacity:.7}}',
    '@media (forced-colors:active){.nyj-msg,.nyj-launcher,.nyj-panel,.nyj-qr,.nyj-send,.nyj-agent,.nyj-photo,.nyj-fbbtn,.nyj-hbtn{border:2px solid ButtonText}.nyj-fbbtn[aria-pressed="true"],.nyj-hbtn[aria-pressed="true"]{outline:3px solid Highlight}}',
    '@media print{.nyj-root{display:none!important}}'
  ].join('\n');

  // ---- small helpers ------------------------------------------------------------------------
  function el(tag, cls, attrs, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (attrs) for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) node.setAttribute(k, attrs[k]);
    if (text != null) node.textContent = text;
    return node;
  }

  /** Replace a node's content with text, one text node per line and <br> between (never HTML). */
  function setLines(node, text) {
    while (node.firstChild) node.removeChild(node.firstChild);
    var lines = String(text).split(/\r\n|\r|\n/);
    for (var i = 0; i < lines.length; i++) {
      if (i) node.appendChild(document.createElement('br'));
      node.appendChild(document.createTextNode(lines[i]));
    }
  }

  var ICONS = {
    chat: 'M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z',
    close: 'M6 6l12 12M18 6L6 18',
    up: 'M14 9V5a3 3 0 0 0-3-3l-4 9v11h11.28a2 2 0 0 0 2-1.7l1.38-9a2 2 0 0 0-2-2.3zM7 22H4a2 2 0 0 1-2-2v-7a2 2 0 0 1 2-2h3',
    down: 'M10 15v4a3 3 0 0 0 3 3l4-9V2H5.72a2 2 0 0 0-2 1.7l-1.38 9a2 2 0 0 0 2 2.3zm7-13h2.67A2.31 2.31 0 0 1 22 4v7a2.31 2.31 0 0 1-2.33 2H17',
    agent: 'M3 18v-6a9 9 0 0 1 18 0v6M21 19a2 2 0 0 1-2 2h-1a2 2 0 0 1-2-2v-3a2 2 0 0 1 2-2h3zM3 19a2 2 0 0 0 2 2h1a2 2 0 0 0 2-2v-3a2 2 0 0 0-2-2H3z',
    camera: 'M23 19a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2V8a2 2 0 0 1 2-2h4l2-3h6l2 3h4a2 2 0 0 1 2 2zM16 13a4 4 0 1 1-8 0a4 4 0 1 1 8 0z'
  };
  function icon(name) {
    var svg = document.createElementNS(SVG_NS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    var path = document.createElementNS(SVG_NS, 'path');
    path.setAttribute('d', ICONS[name]);
    svg.appendChild(path);
    return svg;
  }

  function storageGet(kind, key) {
    try { return window[kind].getItem(key); } catch (e) { return null; }
  }
  function storageSet(kind, key, value) {
    try { window[kind].setItem(key, value); } catch (e) { /* storage blocked: keep it in memory */ }
  }

  function HttpError(status) { this.status = status; }

  function errorText(status) {
    if (status === 429) return T.tooMany;
    if (status === 413) return T.tooLong;
    if (status === 422 || status === 400) return T.invalid;
    if (status >= 500) return T.retry;
    return T.failed;
  }

  /**
   * Incremental text/event-stream parser (WHATWG framing): lines end in LF, CRLF or CR; a blank
   * line dispatches the event; "event:" names it (default "message"); "data:" lines are joined
   * with LF; one space after the colon is dropped; lines starting with ":" are comments.
   */
  function sseParser(onEvent) {
    var buf = '', name = '', lines = [];
    function line(l) {
      if (l === '') {
        if (lines.length) onEvent(name || 'message', lines.join('\n'));
        name = ''; lines = [];
        return;
      }
      if (l.charAt(0) === ':') return;
      var i = l.indexOf(':');
      var field = i < 0 ? l : l.slice(0, i);
      var value = i < 0 ? '' : l.slice(i + 1);
      if (value.charAt(0) === ' ') value = value.slice(1);
      if (field === 'event') name = value;
      else if (field === 'data') lines.push(value);
    }
    return function push(text, final) {
      buf += text;
      var re = /\r\n|\r|\n/g, last = 0, m;
      while ((m = re.exec(buf))) {
        if (m[0] === '\r' && m.index === buf.length - 1 && !final) break; // maybe half of a CRLF
        line(buf.slice(last, m.index));
        last = re.lastIndex;
      }
      buf = buf.slice(last);
      if (final) {
        if (buf) line(buf);
        line('');
        buf = '';
      }
    };
  }

  // ---- build the DOM --------------------------------------------------------------------------
  var root, launcher, panel, log, quick, input, sendBtn, agentBtn, photoBtn, fileInput, largeBtn, counter;
  var state = { busy: false, greeted: false, sessionId: storageGet('sessionStorage', KEY_SESSION) };

  function build() {
    var style = el('style', null, { id: 'nyj-style' });
    style.textContent = CSS;
    (document.head || document.documentElement).appendChild(style);

    root = el('div', 'nyj-root', { lang: 'ko' });

    launcher = el('button', 'nyj-launcher', {
      type: 'button', 'aria-expanded': 'false', 'aria-controls': 'nyj-panel', 'aria-haspopup': 'dialog'
    });
    launcher.appendChild(icon('chat'));
    launcher.appendChild(el('span', null, null, T.launcher));
    launcher.addEventListener('click', function () { open(true); });

    panel = el('div', 'nyj-panel', { id: 'nyj-panel', role: 'dialog', 'aria-labelledby': 'nyj-title' });
    panel.hidden = true;

    var header = el('div', 'nyj-header');
    header.appendChild(el('h2', 'nyj-title', { id: 'nyj-title' }, T.title));
    largeBtn = el('button', 'nyj-hbtn nyj-large-btn', { type: 'button', 'aria-pressed': 'false' }, T.large);
    largeBtn.addEventListener('click', function () { setLarge(!root.classList.contains('nyj-large'), true); });
    var closeBtn = el('button', 'nyj-hbtn nyj-close', { type: 'button', 'aria-label': T.close, title: T.close });
    closeBtn.appendChild(icon('close'));
    closeBtn.addEventListener('click', close);
    header.appendChild(largeBtn);
    header.appendChild(closeBtn);

    log = el('div', 'nyj-log', {
      role: 'log', 'aria-live': 'polite', 'aria-label': T.log, tabindex: '0', 'aria-busy': 'false'
    });

    quick = el('div', 'nyj-quick', { role: 'group', 'aria-label': T.quick });
    quick.hidden = true;

    var form = el('form', 'nyj-form', { novalidate: '' });
    var label = el('label', 'nyj-sr', { for: 'nyj-input' }, T.inputLabel);
    input = el('textarea', 'nyj-input', {
      id: 'nyj-input', rows: '1', maxlength: String(MAX_CHARS), placeholder: T.placeholder,
      'aria-describedby': 'nyj-count nyj-consent', autocomplete: 'off'
    });
    sendBtn = el('button', 'nyj-send', { type: 'submit', 'aria-disabled': 'false' }, T.send);
    form.appendChild(label);
    form.appendChild(input);
    form.appendChild(sendBtn);
    form.addEventListener('submit', function (e) { e.preventDefault(); submit(); });
    input.addEventListener('keydown', function (e) {
      // Enter sends, Shift+Enter is a newline; never send while a Korean IME is composing.
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        submit();
      }
    });
    input.addEventListener('input', function () { autoGrow(); updateCount(); });

    var bar = el('div', 'nyj-bar');
    agentBtn = el('button', 'nyj-agent', { type: 'button', 'aria-disabled': 'false' });
    agentBtn.appendChild(icon('agent'));
    agentBtn.appendChild(el('span', null, null, T.agent));
    agentBtn.addEventListener('click', function () { send(T.agent, false); });
    // The photo button opens a hidden file picker (no `capture`: phones offer camera or gallery).
    photoBtn = el('button', 'nyj-photo', { type: 'button', 'aria-disabled': 'false' });
    photoBtn.appendChild(icon('camera'));
    photoBtn.appendChild(el('span', null, null, T.photo));
    fileInput = el('input', 'nyj-file', { type: 'file', accept: PHOTO_TYPES.join(',') });
    fileInput.hidden = true;
    photoBtn.addEventListener('click', function () { if (!state.busy) fileInput.click(); });
    fileInput.addEventListener('change', function () {
      var file = fileInput.files && fileInput.files[0];
      fileInput.value = ''; // the same photo can be chosen again later
      if (file) sendPhoto(file);
    });
    var actions = el('div', 'nyj-actions');
    actions.appendChild(agentBtn);
    actions.appendChild(photoBtn);
    actions.appendChild(fileInput);
    counter = el('span', 'nyj-count', { id: 'nyj-count' });
    bar.appendChild(actions);
    bar.appendChild(counter);

    var consent = el('p', 'nyj-consent', { id: 'nyj-consent' }, T.consent);

    panel.appendChild(header);
    panel.appendChild(log);
    panel.appendChild(quick);
    panel.appendChild(form);
    panel.appendChild(bar);
    panel.appendChild(consent);
    panel.addEventListener('keydown', function (e) {
      if (e.key === 'Escape' || e.key === 'Esc') { e.preventDefault(); close(); }
    });

    root.appendChild(launcher);
    root.appendChild(panel);
    document.body.appendChild(root);

    setLarge(storageGet('localStorage', KEY_LARGE) === '1', false);
    updateCount();
  }

  // ---- panel state ----------------------------------------------------------------------------
  function open(focusInput) {
    if (!state.greeted) {
      state.greeted = true;
      addBot(T.welcome);
      renderQuick(T.welcomeQuick);
    }
    panel.hidden = false;
    launcher.hidden = true;
    launcher.setAttribute('aria-expanded', 'true');
    document.documentElement.classList.add('nyj-lock');
    scrollToEnd();
    if (focusInput) input.focus();
  }

  function close() {
    panel.hidden = true;
    launcher.hidden = false;
    launcher.setAttribute('aria-expanded', 'false');
    document.documentElement.classList.remove('nyj-lock');
    launcher.focus();
  }

  function setLarge(on, remember) {
    root.classList.toggle('nyj-large', on);
    largeBtn.setAttribute('aria-pressed', on ? 'true' : 'false');
    if (remember) storageSet('localStorage', KEY_LARGE, on ? '1' : '0');
  }

  function setBusy(busy) {
    state.busy = busy;
    var flag = busy ? 'true' : 'false';
    sendBtn.setAttribute('aria-disabled', flag);
    agentBtn.setAttribute('aria-disabled', flag);
    photoBtn.setAttribute('aria-disabled', flag);
    log.setAttribute('aria-busy', flag);
    var buttons = quick.querySelectorAll('button');
    for (var i = 0; i < buttons.length; i++) buttons[i].setAttribute('aria-disabled', flag);
  }

  function autoGrow() {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight + 4, 140) + 'px';
  }

  function updateCount() {
    var n = input.value.length;
    counter.textContent = n + ' / ' + MAX_CHARS;
    counter.classList.toggle('nyj-near', n >= MAX_CHARS * 0.9);
  }

  function nearEnd() { return log.scrollHeight - log.scrollTop - log.clientHeight < 80; }
  function scrollToEnd() { log.scrollTop = log.scrollHeight; }

  // ---- messages -------------------------------------------------------------------------------
  function addUser(text) {
    var msg = el('div', 'nyj-msg nyj-user');
    msg.appendChild(el('span', 'nyj-sr', null, T.you));
    var body = el('span', 'nyj-text');
    setLines(body, text);
    msg.appendChild(body);
    log.appendChild(msg);
    scrollToEnd();
    return msg;
  }

  /** The user's photo as a thumbnail, from a local object URL (revoked once the image is decoded). */
  function addPhoto(file) {
    var msg = el('div', 'nyj-msg nyj-user nyj-photo-msg');
    msg.appendChild(el('span', 'nyj-sr', null, T.you));
    var img = el('img', 'nyj-thumb', { alt: T.photoAlt });
    var url = URL.createObjectURL(file);
    function revoke() { if (url) { URL.revokeObjectURL(url); url = null; } }
    img.addEventListener('load', function () { revoke(); if (nearEnd()) scrollToEnd(); });
    img.addEventListener('error', revoke);
    img.src = url;
    msg.appendChild(img);
    log.appendChild(msg);
    scrollToEnd();
    return { msg: msg, revoke: revoke };
  }

  function addBot(text, extraClass) {
    var msg = el('div', 'nyj-msg nyj-bot' + (extraClass ? ' ' + extraClass : ''));
    msg.appendChild(el('span', 'nyj-sr', null, T.bot));
    var body = el('div', 'nyj-text');
    setLines(body, text);
    msg.appendChild(body);
    log.appendChild(msg);
    scrollToEnd();
    return { msg: msg, body: body };
  }

  function showTyping(text) {
    var msg = el('div', 'nyj-msg nyj-bot nyj-typing');
    var dots = el('span', 'nyj-dots', { 'aria-hidden': 'true' });
    dots.appendChild(el('i'));
    dots.appendChild(el('i'));
    dots.appendChild(el('i'));
    msg.appendChild(dots);
    msg.appendChild(el('span', null, null, text || T.typing));
    log.appendChild(msg);
    scrollToEnd();
    return msg;
  }

  function removeNode(node) { if (node && node.parentNode) node.parentNode.removeChild(node); }

  function strings(list, limit) {
    var out = [];
    if (!Array.isArray(list)) return out;
    for (var i = 0; i < list.length && out.length < limit; i++) {
      if (typeof list[i] === 'string' && list[i].trim()) out.push(list[i]);
    }
    return out;
  }

  function renderQuick(list) {
    var items = strings(list, 8);
    var hadFocus = quick.contains(document.activeElement);
    while (quick.firstChild) quick.removeChild(quick.firstChild);
    items.forEach(function (text) {
      var b = el('button', 'nyj-qr', { type: 'button', 'aria-disabled': state.busy ? 'true' : 'false' }, text);
      b.addEventListener('click', function () { send(text, false); });
      quick.appendChild(b);
    });
    quick.hidden = items.length === 0;
    if (hadFocus) input.focus();
  }

  function renderCitations(msg, citations) {
    if (!Array.isArray(citations)) return;
    var cites = citations.filter(function (c) { return c && typeof c === 'object'; }).slice(0, 20);
    if (!cites.length) return;
    var details = el('details', 'nyj-cites');
    details.appendChild(el('summary', null, null, T.sources(cites.length)));
    var list = el('ol');
    cites.forEach(function (c) {
      var item = el('li');
      item.appendChild(el('span', 'nyj-doc', null, String(c.document || '')));
      if (c.section) item.appendChild(el('span', 'nyj-sec', null, String(c.section)));
      if (c.text) {
        var quote = el('details', 'nyj-quote');
        quote.appendChild(el('summary', null, null, T.quote));
        var body = el('p', 'nyj-quote-text');
        setLines(body, String(c.text));
        quote.appendChild(body);
        item.appendChild(quote);
      }
      list.appendChild(item);
    });
    details.appendChild(list);
    msg.appendChild(details);
  }

  /** ISO date-time -> "2026. 1. 20. 오후 06:00" in Korean time; anything else is shown as given. */
  function when(value) {
    if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T/.test(value)) return value;
    var d = new Date(value);
    if (isNaN(d.getTime())) return value;
    try {
      return d.toLocaleString('ko-KR', {
        timeZone: 'Asia/Seoul', year: 'numeric', month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit'
      });
    } catch (e) {
      return value;
    }
  }

  function renderComplaint(msg, c) {
    if (!c || typeof c !== 'object') return;
    var box = el('div', 'nyj-complaint');
    var title = el('span', 'nyj-complaint-title', null, T.complaint);
    if (c.urgent === true) title.appendChild(el('span', 'nyj-badge', null, T.complaintUrgent));
    box.appendChild(title);
    var dl = el('dl');
    [[T.complaintId, c.id], [T.complaintTeam, c.team], [T.complaintStatus, c.status],
      [T.complaintDue, when(c.expected_datetime)], [T.complaintDuplicate, c.duplicate_of]].forEach(function (row) {
      if (row[1] == null || row[1] === '') return;
      dl.appendChild(el('dt', null, null, row[0]));
      dl.appendChild(el('dd', null, null, String(row[1])));
    });
    box.appendChild(dl);
    msg.appendChild(box);
  }

  function renderFeedback(msg, messageId) {
    var row = el('div', 'nyj-fb', { role: 'group', 'aria-label': T.rate });
    var note = el('span', 'nyj-fb-note');
    var sent = false;
    var up = el('button', 'nyj-fbbtn', { type: 'button', 'aria-pressed': 'false', 'aria-label': T.up, title: T.up });
    var down = el('button', 'nyj-fbbtn', { type: 'button', 'aria-pressed': 'false', 'aria-label': T.down, title: T.down });
    up.appendChild(icon('up'));
    down.appendChild(icon('down'));
    function rate(rating, btn) {
      if (sent) return;
      sent = true;
      btn.setAttribute('aria-pressed', 'true');
      up.setAttribute('aria-disabled', 'true');
      down.setAttribute('aria-disabled', 'true');
      note.classList.remove('nyj-bad');
      postFeedback(messageId, rating).then(function (ok) {
        if (ok) { note.textContent = T.thanks; return; }
        sent = false;
        btn.setAttribute('aria-pressed', 'false');
        up.removeAttribute('aria-disabled');
        down.removeAttribute('aria-disabled');
        note.classList.add('nyj-bad');
        note.textContent = T.feedbackFailed;
      });
    }
    up.addEventListener('click', function () { rate('up', up); });
    down.addEventListener('click', function () { rate('down', down); });
    row.appendChild(up);
    row.appendChild(down);
    row.appendChild(note);
    msg.appendChild(row);
  }

  function rememberSession(obj) {
    if (obj && typeof obj.session_id === 'string' && obj.session_id) {
      state.sessionId = obj.session_id;
      storageSet('sessionStorage', KEY_SESSION, obj.session_id);
    }
  }

  // ---- transport ------------------------------------------------------------------------------
  var FALLBACK = {};

  function payload(text, mediaId) {
    var body = { message: text };
    if (state.sessionId) body.session_id = state.sessionId;
    if (mediaId) body.media_id = mediaId;
    return JSON.stringify(body);
  }

  /** Stream the answer; returns the `done` object, FALLBACK (try plain JSON), or throws HttpError. */
  async function streamChat(text, mediaId, view) {
    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = null;
    function arm() {
      if (!ctrl) return;
      clearTimeout(timer);
      timer = setTimeout(function () { ctrl.abort(); }, IDLE_TIMEOUT_MS);
    }
    arm();
    var res;
    try {
      res = await fetch(API + '/api/chat/stream', {
        method: 'POST', credentials: 'omit', signal: ctrl ? ctrl.signal : undefined,
        headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
        body: payload(text, mediaId)
      });
    } catch (e) {
      clearTimeout(timer);
      if (e && e.name === 'AbortError') throw new HttpError(0); // slow server: do not send it twice
      return FALLBACK;
    }
    if (!res.ok) {
      clearTimeout(timer);
      if (res.status === 413 || res.status === 422 || res.status === 429) throw new HttpError(res.status);
      return FALLBACK;
    }
    var type = res.headers.get('content-type') || '';
    if (!res.body || typeof res.body.getReader !== 'function' || type.indexOf('text/event-stream') < 0) {
      clearTimeout(timer);
      return FALLBACK;
    }
    var started = false, done = null, failed = null;
    var push = sseParser(function (event, raw) {
      var obj;
      try { obj = JSON.parse(raw); } catch (e) { return; }
      if (!obj || typeof obj !== 'object') return;
      if (event === 'meta') {
        started = true;
        rememberSession(obj);
        if (typeof obj.message_id === 'string') view.messageId = obj.message_id;
      } else if (event === 'delta') {
        started = true;
        if (typeof obj.text === 'string') appendDelta(view, obj.text);
      } else if (event === 'done') {
        done = obj;
      } else if (event === 'error') {
        failed = obj;
      }
    });
    var reader = res.body.getReader();
    var decoder = new TextDecoder('utf-8');
    try {
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) break;
        arm();
        push(decoder.decode(chunk.value, { stream: true }), false);
        if (done || failed) break;
      }
      if (!done && !failed) push(decoder.decode(), true);
    } catch (e) {
      if (!started) return FALLBACK;
      throw new HttpError(0); // the server already has the message: do not resend it
    } finally {
      clearTimeout(timer);
      if (done || failed) reader.cancel().catch(function () {});
    }
    if (failed) throw new HttpError(typeof failed.status === 'number' ? failed.status : 500);
    if (!done) {
      if (!started) return FALLBACK;
      throw new HttpError(0);
    }
    if (typeof done.reply !== 'string') throw new HttpError(0);
    return done;
  }

  async function plainChat(text, mediaId) {
    var res;
    try {
      res = await fetch(API + '/api/chat', {
        method: 'POST', credentials: 'omit',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: payload(text, mediaId)
      });
    } catch (e) {
      throw new HttpError(0);
    }
    if (!res.ok) throw new HttpError(res.status);
    var obj;
    try { obj = await res.json(); } catch (e) { throw new HttpError(0); }
    if (!obj || typeof obj.reply !== 'string') throw new HttpError(0);
    return obj;
  }

  /** Upload one photo; resolves to its media id, or throws an Error whose message is Korean text. */
  async function uploadPhoto(file) {
    var form = new FormData();
    form.append('file', file, file.name || 'photo');
    var ctrl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = ctrl ? setTimeout(function () { ctrl.abort(); }, UPLOAD_TIMEOUT_MS) : null;
    var res, obj = null;
    try {
      // No Content-Type header: the browser sets multipart/form-data with its boundary (and a
      // multipart POST needs no CORS preflight).
      res = await fetch(API + '/api/uploads', {
        method: 'POST', credentials: 'omit', signal: ctrl ? ctrl.signal : undefined,
        headers: { Accept: 'application/json' }, body: form
      });
      try { obj = await res.json(); } catch (e) { obj = null; }
    } catch (e) {
      throw new Error(T.photoFailed);
    } finally {
      clearTimeout(timer);
    }
    if (res.ok) {
      if (obj && typeof obj.media_id === 'string' && /^[0-9a-f]{32}$/.test(obj.media_id)) return obj.media_id;
      throw new Error(T.photoFailed);
    }
    if (res.status === 429) throw new Error(T.tooMany);
    if (res.status === 400 || res.status === 413 || res.status === 415) {
      var said = obj && typeof obj.message === 'string' ? obj.message.trim().slice(0, 300) : '';
      throw new Error(said || (res.status === 400 ? T.photoFailed : T.photoInvalid));
    }
    throw new Error(T.photoFailed);
  }

  async function postFeedback(messageId, rating) {
    try {
      var res = await fetch(API + '/api/feedback', {
        method: 'POST', credentials: 'omit',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ session_id: state.sessionId || '', message_id: messageId, rating: rating })
      });
      return res.ok;
    } catch (e) {
      return false;
    }
  }

  // ---- one exchange ---------------------------------------------------------------------------
  function appendDelta(view, text) {
    var follow = nearEnd();
    if (!view.bubble) {
      removeNode(view.typing);
      view.bubble = addBot('');
    }
    view.text += text;
    setLines(view.bubble.body, view.text);
    if (follow) scrollToEnd();
  }

  function finish(view, obj) {
    removeNode(view.typing);
    rememberSession(obj);
    if (!view.bubble) view.bubble = addBot('');
    setLines(view.bubble.body, obj.reply);
    var msg = view.bubble.msg;
    renderComplaint(msg, obj.complaint);
    renderCitations(msg, obj.citations);
    var messageId = typeof obj.message_id === 'string' && obj.message_id ? obj.message_id : view.messageId;
    if (messageId) renderFeedback(msg, messageId);
    renderQuick(obj.quick_replies);
    scrollToEnd();
  }

  function submit() {
    if (state.busy) return;
    send(input.value, true);
  }

  /** One chat turn (stream, else plain JSON); renders the answer or an error. Returns true if answered. */
  async function exchange(text, mediaId) {
    var view = { typing: showTyping(), bubble: null, text: '', messageId: null };
    try {
      var obj = await streamChat(text, mediaId, view);
      if (obj === FALLBACK) obj = await plainChat(text, mediaId);
      finish(view, obj);
      return true;
    } catch (err) {
      removeNode(view.typing);
      var status = err instanceof HttpError ? err.status : 0;
      addBot(errorText(status), 'nyj-error');
      return false;
    }
  }

  async function send(text, fromInput) {
    text = String(text || '').trim();
    if (state.busy || !text) return;
    if (text.length > MAX_CHARS) {
      addBot(T.tooLong, 'nyj-error');
      return;
    }
    setBusy(true);
    addUser(text);
    if (fromInput) {
      input.value = '';
      autoGrow();
      updateCount();
    }
    try {
      var ok = await exchange(text, null);
      if (!ok && fromInput && !input.value) { // give the typed text back so nothing is lost
        input.value = text;
        autoGrow();
        updateCount();
      }
    } finally {
      setBusy(false);
    }
  }

  /** Check, show and upload a photo, then send it as a chat turn of its own (the input is left alone). */
  async function sendPhoto(file) {
    if (state.busy) return;
    if (PHOTO_TYPES.indexOf(file.type) < 0 || file.size > PHOTO_MAX_BYTES) {
      addBot(T.photoInvalid, 'nyj-error');
      return;
    }
    setBusy(true);
    var thumb = addPhoto(file);
    var status = showTyping(T.uploading);
    try {
      var mediaId;
      try {
        mediaId = await uploadPhoto(file);
      } catch (err) {
        removeNode(status);
        thumb.revoke();
        removeNode(thumb.msg); // the photo was not accepted: it is not part of the conversation
        addBot(err && err.message ? err.message : T.photoFailed, 'nyj-error');
        return;
      }
      removeNode(status);
      await exchange('', mediaId);
    } finally {
      setBusy(false);
    }
  }

  // ---- start ----------------------------------------------------------------------------------
  function start() {
    build();
    window.nyjChat = { open: function () { open(true); }, close: close };
    // Any element of the host page marked data-nyj-open opens the panel (no inline script needed).
    document.addEventListener('click', function (e) {
      var t = e.target && e.target.closest ? e.target.closest('[data-nyj-open]') : null;
      if (t) { e.preventDefault(); open(true); }
    });
    if (data.open === 'true') open(false);
  }

  if (document.body) start();
  else document.addEventListener('DOMContentLoaded', start);
})();

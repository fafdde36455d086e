/* voc theme report: draws the JSON in #report-data (built by voc.report.data).
 *
 * Customer text reaches the page only through textContent and text nodes: there is no
 * innerHTML anywhere in this file, so feedback holding a script tag shows as text.
 * Counts are summed from the report's cells (week x dimension values) under the filters,
 * so every filter works offline. Theme panels are built only when opened. */
(function () {
  "use strict";

  var DATA = JSON.parse(document.getElementById("report-data").textContent);
  var WEEKS = DATA.weeks;
  var DIMS = DATA.dims;
  var STAGE_AT = DIMS.indexOf("stage");
  var BASELINE_WEEKS = 4;
  var TOP_ROWS = 20;
  var TOP_ALERTS = 5;
  var TOP_PRIORITIES = 10;
  var EVIDENCE_SHOWN = 3;
  /* Priority's components in voc.needs.rank_priorities order, each with its colour. */
  var PARTS = ["volume", "growth", "negativity", "churn_risk", "effort"];
  var PART_COLORS = { volume: "#2f6fde", growth: "#d68910", negativity: "#c0392b", churn_risk: "#8e44ad", effort: "#16a085" };

  var STRINGS = {
    en: {
      title: "Customer needs insight report",
      summary: "Summary",
      volume: "Feedback volume per week",
      by_source: "By source",
      by_lang: "By language",
      alerts: "Alerts",
      top_themes: "Top themes",
      priority: "Top needs by priority",
      unstated: "Unstated needs",
      journey: "Journey map (themes \u00d7 lifecycle stages)",
      all: "All",
      f_source: "Source",
      f_lang: "Language",
      f_stage: "Stage",
      f_from: "From",
      f_to: "To",
      k_units: "Feedback units",
      k_themes: "Themes",
      k_alerts: "Alerts",
      k_period: "Period",
      k_run: "Themes computed",
      workspace: "Workspace {ws}",
      col_theme: "Theme",
      col_size: "Units",
      col_share: "Share",
      col_growth: "Growth (last week)",
      col_trend: "Trend",
      col_keywords: "Keywords",
      col_priority: "Priority",
      col_sentiment: "Sentiment",
      show_all: "Show all {n} themes",
      show_top: "Show top {n}",
      all_alerts: "Show all {n} alerts",
      fewer_alerts: "Show fewer alerts",
      no_themes: "No themes match the filters.",
      no_alerts: "No alerts in the latest week.",
      no_quotes: "No quotes match the filters.",
      no_data: "No feedback in this workspace yet.",
      a_spike: "Spike",
      a_emerging: "Emerging",
      a_died: "Gone quiet",
      a_proposed: "Proposed theme",
      alert_line: "{count} mentions in the week of {week} (expected {baseline})",
      alert_died: "no mentions up to the week of {week} (expected {baseline})",
      alert_proposed: "{count} pending feedback units close to each other, week of {week}",
      close: "Close",
      names: "Names",
      keywords: "Keywords",
      trend: "Trend",
      mentions: "Mentions",
      share: "Share of all feedback",
      sources: "Sources and languages",
      quotes: "Quotes",
      full_record: "View full record",
      record: "Record {id}",
      children: "Child themes",
      parent: "Parent theme",
      lineage: "History",
      no_history: "No lineage events.",
      intent_mix: "Intent mix",
      sentiment_mix: "Sentiment mix",
      stages: "Lifecycle stages",
      rating_impact: "Rating impact",
      need_gap: "Need gap",
      evidence: "Evidence",
      priority_parts: "Priority {p} of 100, made of",
      part_volume: "Volume",
      part_growth: "Growth",
      part_negativity: "Negativity",
      part_churn_risk: "Churn risk",
      part_effort: "Effort",
      churn_risk: "Churn risk",
      churn_line: "{p} of units mention leaving or cancelling",
      rating_line: "{impact} {field} ({mean} here vs {rest} elsewhere; {n} vs {rest_n} ratings)",
      f_rating: "stars",
      f_nps: "NPS",
      f_csat: "CSAT",
      gap_line: "{gap}: {e} units show the need (pains, workarounds, effort, confusion), {r} ask for something",
      priority_line: "priority {p} \u00b7 gap {gap} \u00b7 churn risk {churn}",
      unstated_line: "gap {gap} \u00b7 {e} of {n} units show the need, {r} ask \u00b7 {w} workarounds",
      gap_formula: "need_gap = 1 \u2212 min(1, R / ({par}\u00b7(R + E))) \u00d7 facet overlap, where E counts pains and units with a workaround, effort or confusion signal, and R explicit requests; facet overlap compares what the requests and the evidence are about (speed, reliability, clarity, \u2026).",
      unstated_rule: "A theme is an unstated need when need_gap \u2265 {gap}, evidence \u2265 {ev} of its units, requests \u2264 {rq} and workaround/effort/confusion \u2265 {wk} (at least {min} units); ranked by gap \u00d7 evidence share \u00d7 signal share.",
      r_workaround: "workaround",
      r_effort: "effort",
      r_confusion: "confusion",
      r_pain: "pain",
      l_born: "born",
      l_merged: "merged",
      l_split: "split",
      l_died: "died",
      l_curated: "curated",
      r_central: "central",
      r_diverse: "diverse",
      r_recent: "recent",
      curated_name: "name set by a person",
      undated: "undated",
      s_ticket: "Ticket",
      s_call: "Call",
      s_review: "Review",
      s_interview: "Interview",
      s_survey: "Survey",
      lang_zh: "Chinese",
      lang_en: "English",
      stage_discover: "Discover",
      stage_evaluate: "Evaluate",
      stage_purchase: "Purchase",
      stage_onboard: "Onboard",
      stage_use: "Use",
      stage_support: "Support",
      stage_renew_churn: "Renew / churn",
      stage_unknown: "Not analysed",
      intent_pain: "Pain",
      intent_request: "Request",
      intent_question: "Question",
      intent_praise: "Praise",
      intent_other: "Other",
      sentiment_negative: "Negative",
      sentiment_neutral: "Neutral",
      sentiment_positive: "Positive",
    },
    zh: {
      title: "需求洞察报告",
      summary: "概览",
      volume: "每周反馈量",
      by_source: "按来源",
      by_lang: "按语言",
      alerts: "异常提醒",
      top_themes: "主要主题",
      priority: "优先需求",
      unstated: "未明说的需求",
      journey: "旅程地图（主题 \u00d7 生命周期阶段）",
      all: "全部",
      f_source: "来源",
      f_lang: "语言",
      f_stage: "阶段",
      f_from: "从",
      f_to: "到",
      k_units: "反馈条数",
      k_themes: "主题数",
      k_alerts: "提醒",
      k_period: "时间范围",
      k_run: "主题计算于",
      workspace: "工作区 {ws}",
      col_theme: "主题",
      col_size: "条数",
      col_share: "占比",
      col_growth: "增长（最近一周）",
      col_trend: "趋势",
      col_keywords: "关键词",
      col_priority: "优先级",
      col_sentiment: "情感",
      show_all: "显示全部 {n} 个主题",
      show_top: "只显示前 {n} 个",
      all_alerts: "显示全部 {n} 条提醒",
      fewer_alerts: "收起提醒",
      no_themes: "没有符合筛选条件的主题。",
      no_alerts: "最近一周没有提醒。",
      no_quotes: "没有符合筛选条件的原话。",
      no_data: "该工作区还没有反馈。",
      a_spike: "激增",
      a_emerging: "新兴",
      a_died: "沉寂",
      a_proposed: "建议新主题",
      alert_line: "{week} 这一周被提到 {count} 次（预期 {baseline} 次）",
      alert_died: "截至 {week} 这一周没有提及（预期 {baseline} 次）",
      alert_proposed: "{week} 这一周有 {count} 条待归类的相近反馈",
      close: "关闭",
      names: "名称",
      keywords: "关键词",
      trend: "趋势",
      mentions: "提及次数",
      share: "占全部反馈",
      sources: "来源与语言",
      quotes: "客户原话",
      full_record: "查看完整记录",
      record: "记录 {id}",
      children: "子主题",
      parent: "上级主题",
      lineage: "演变",
      no_history: "没有演变记录。",
      intent_mix: "意图构成",
      sentiment_mix: "情感构成",
      stages: "生命周期阶段",
      rating_impact: "对评分的影响",
      need_gap: "需求缺口",
      evidence: "依据",
      priority_parts: "优先级 {p}（满分 100），构成",
      part_volume: "声量",
      part_growth: "增长",
      part_negativity: "负面程度",
      part_churn_risk: "流失风险",
      part_effort: "费力程度",
      churn_risk: "流失风险",
      churn_line: "{p} 的反馈提到放弃或取消",
      rating_line: "{field} {impact}（本主题 {mean}，其他 {rest}；{n} 条对 {rest_n} 条评分）",
      f_rating: "星级",
      f_nps: "NPS",
      f_csat: "CSAT",
      gap_line: "{gap}：{e} 条反馈体现出需求（痛点、变通做法、费力、困惑），{r} 条明确提出诉求",
      priority_line: "优先级 {p} \u00b7 需求缺口 {gap} \u00b7 流失风险 {churn}",
      unstated_line: "需求缺口 {gap} \u00b7 {n} 条中 {e} 条体现需求、{r} 条明确提出 \u00b7 {w} 条变通做法",
      gap_formula: "need_gap = 1 \u2212 min(1, R / ({par}\u00b7(R + E))) \u00d7 关注点重合度；E 为痛点以及带有变通做法、费力或困惑信号的反馈条数，R 为明确提出的诉求条数；关注点重合度比较诉求与痛点所谈的方面（速度、稳定、清晰\u2026\u2026）。",
      unstated_rule: "需求缺口 \u2265 {gap}、体现需求的反馈 \u2265 {ev}、明确诉求 \u2264 {rq}、变通/费力/困惑 \u2265 {wk}（至少 {min} 条）的主题视为未明说的需求；按 缺口 \u00d7 需求占比 \u00d7 信号占比 排序。",
      r_workaround: "变通做法",
      r_effort: "费力",
      r_confusion: "困惑",
      r_pain: "痛点",
      l_born: "新生",
      l_merged: "合并",
      l_split: "拆分",
      l_died: "消失",
      l_curated: "人工调整",
      r_central: "典型",
      r_diverse: "多样",
      r_recent: "最新",
      curated_name: "名称由人工设定",
      undated: "无日期",
      s_ticket: "工单",
      s_call: "通话",
      s_review: "评价",
      s_interview: "访谈",
      s_survey: "问卷",
      lang_zh: "中文",
      lang_en: "英文",
      stage_discover: "认知",
      stage_evaluate: "评估",
      stage_purchase: "购买",
      stage_onboard: "上手",
      stage_use: "使用",
      stage_support: "求助",
      stage_renew_churn: "续费 / 流失",
      stage_unknown: "未分析",
      intent_pain: "痛点",
      intent_request: "诉求",
      intent_question: "疑问",
      intent_praise: "表扬",
      intent_other: "其他",
      sentiment_negative: "负面",
      sentiment_neutral: "中性",
      sentiment_positive: "正面",
    },
  };

  var state = {
    lang: STRINGS[DATA.lang] ? DATA.lang : "zh",
    filter: { from: 0, to: Math.max(WEEKS.length - 1, 0) },
    sort: "size",
    showAll: false,
    allAlerts: false,
    openTheme: null,
  };
  DIMS.forEach(function (d) { state.filter[d] = ""; });

  var charts = {};
  var themesById = {};
  DATA.themes.forEach(function (t) { themesById[t.id] = t; });

  // -- text, numbers, dates ------------------------------------------------------------------

  function t(key, params) {
    var text = STRINGS[state.lang][key];
    if (text === undefined) text = STRINGS.en[key] !== undefined ? STRINGS.en[key] : key;
    if (params) {
      Object.keys(params).forEach(function (k) { text = text.split("{" + k + "}").join(String(params[k])); });
    }
    return text;
  }
  function locale() { return state.lang === "zh" ? "zh-CN" : "en-US"; }
  function fmtNum(n, digits) {
    return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits || 0 }).format(n);
  }
  function fmtPct(x, signed) {
    var text = new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(x);
    return signed && x > 0 ? "+" + text : text;
  }
  function parseDay(iso) {
    var p = iso.slice(0, 10).split("-");
    return new Date(Date.UTC(+p[0], +p[1] - 1, +p[2]));
  }
  function fmtDate(iso, withYear) {
    var opts = { month: "short", day: "numeric", timeZone: "UTC" };
    if (withYear) opts.year = "numeric";
    return new Intl.DateTimeFormat(locale(), opts).format(parseDay(iso));
  }
  /* The Sunday ending the week that starts on Monday `iso`: periods are shown as whole weeks. */
  function weekEnd(iso) {
    return new Date(parseDay(iso).getTime() + 6 * 86400000).toISOString().slice(0, 10);
  }
  function valueLabel(dim, value) {
    var key = dim === "source" ? "s_" + value : dim === "lang" ? "lang_" + value : dim + "_" + value;
    var text = t(key);
    return text === key ? value : text;
  }
  function themeName(theme) {
    if (theme.curated_name) return theme.name;
    return (theme.names && theme.names[state.lang]) || theme.name;
  }
  /* Keywords in the interface language, else the other one: a theme said only in Chinese
   * still shows what it is about in the English view. */
  function themeKeywords(theme) {
    var own = theme.keywords[state.lang] || [];
    if (own.length) return own;
    var other = Object.keys(theme.keywords).filter(function (k) { return theme.keywords[k].length; })[0];
    return other ? theme.keywords[other] : [];
  }
  function localText(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "string") return value;
    return value[state.lang] || value.en || value.zh || "";
  }

  // -- DOM helpers: text only ------------------------------------------------------------------

  function el(tag, props) {
    var node = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (k) {
        if (k === "text") node.textContent = props[k];
        else if (k === "cls") node.className = props[k];
        else if (k === "on") Object.keys(props.on).forEach(function (e) { node.addEventListener(e, props.on[e]); });
        else node.setAttribute(k, props[k]);
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    }
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

  // -- filtering -------------------------------------------------------------------------------

  function keyMatches(key) {
    var parts = key.split("|");
    for (var i = 0; i < DIMS.length; i++) {
      var want = state.filter[DIMS[i]];
      if (want && parts[i] !== want) return false;
    }
    return true;
  }
  function fullRange() { return state.filter.from === 0 && state.filter.to === WEEKS.length - 1; }
  /* Weekly counts of the cells that match the filters, optionally split by one dimension. */
  function series(entry, splitDim) {
    var out = {};
    var at = splitDim ? DIMS.indexOf(splitDim) : -1;
    Object.keys(entry.cells).forEach(function (key) {
      if (!keyMatches(key)) return;
      var group = at >= 0 ? key.split("|")[at] : "";
      var row = out[group] || (out[group] = WEEKS.map(function () { return 0; }));
      entry.cells[key].forEach(function (n, i) { row[i] += n; });
    });
    return out;
  }
  function weekly(entry) { return series(entry)[""] || WEEKS.map(function () { return 0; }); }
  function total(entry) {
    var counts = weekly(entry);
    var sum = 0;
    for (var i = state.filter.from; i <= state.filter.to; i++) sum += counts[i] || 0;
    if (fullRange() && entry.undated) {
      Object.keys(entry.undated).forEach(function (key) { if (keyMatches(key)) sum += entry.undated[key]; });
    }
    return sum;
  }
  /* Share of the last week in range over the pooled share of the four weeks before it, as
   * voc.trends computes growth; null without a baseline. */
  function growth(counts, volume) {
    var last = state.filter.to;
    if (last - BASELINE_WEEKS < state.filter.from || !volume[last]) return null;
    var c = 0, v = 0;
    for (var i = last - BASELINE_WEEKS; i < last; i++) { c += counts[i]; v += volume[i]; }
    if (!v || !c) return null;
    return (counts[last] / volume[last]) / (c / v) - 1;
  }
  function hasNeed(key) { return DATA.themes.some(function (th) { return th[key] !== undefined; }); }
  /* Units per journey stage under the filters, summed from the cells, so the journey map
   * and the panel's stage bars follow every filter; a report without a stage dimension
   * falls back to the run's own counts. */
  function stageCounts(entry) {
    if (STAGE_AT < 0) return entry.stages || {};
    var out = {};
    var groups = series(entry, "stage");
    Object.keys(groups).forEach(function (k) {
      var n = 0;
      for (var i = state.filter.from; i <= state.filter.to; i++) n += groups[k][i] || 0;
      if (n) out[k] = n;
    });
    if (fullRange() && entry.undated) {
      Object.keys(entry.undated).forEach(function (key) {
        if (!keyMatches(key)) return;
        var k = key.split("|")[STAGE_AT];
        out[k] = (out[k] || 0) + entry.undated[key];
      });
    }
    return out;
  }

  // -- header and filters ----------------------------------------------------------------------

  function renderStatic() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.title = t("title") + " \u00b7 " + DATA.workspace;
    document.querySelectorAll("[data-i18n]").forEach(function (node) { node.textContent = t(node.getAttribute("data-i18n")); });
    document.querySelectorAll(".lang-switch button").forEach(function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-lang") === state.lang ? "true" : "false");
    });
    var sub = t("workspace", { ws: DATA.workspace });
    if (WEEKS.length) sub += " \u00b7 " + fmtDate(WEEKS[0], true) + " \u2013 " + fmtDate(weekEnd(WEEKS[WEEKS.length - 1]), true);
    document.getElementById("subtitle").textContent = sub;
  }

  function renderFilters() {
    var box = clear(document.getElementById("filters"));
    DIMS.forEach(function (dim) {
      var select = el("select", { "data-filter": dim, on: { change: function (e) { state.filter[dim] = e.target.value; render(); } } },
        el("option", { value: "", text: t("all") }));
      (DATA.values[dim] || []).forEach(function (v) {
        var option = el("option", { value: v, text: valueLabel(dim, v) });
        if (state.filter[dim] === v) option.selected = true;
        select.appendChild(option);
      });
      box.appendChild(el("label", null, t("f_" + dim), select));
    });
    if (WEEKS.length) {
      ["from", "to"].forEach(function (end) {
        var select = el("select", { "data-filter": end, on: { change: function (e) {
          state.filter[end] = +e.target.value;
          if (state.filter.from > state.filter.to) state.filter[end === "from" ? "to" : "from"] = +e.target.value;
          render();
        } } });
        WEEKS.forEach(function (w, i) {
          var option = el("option", { value: String(i), text: fmtDate(end === "to" ? weekEnd(w) : w, true) });
          if (state.filter[end] === i) option.selected = true;
          select.appendChild(option);
        });
        box.appendChild(el("label", null, t("f_" + end), select));
      });
    }
  }

  // -- overview --------------------------------------------------------------------------------

  function renderKpis(visible) {
    var box = clear(document.getElementById("kpis"));
    var units = total(DATA.volume);
    var items = [[t("k_units"), fmtNum(units)], [t("k_themes"), fmtNum(visible.length)], [t("k_alerts"), fmtNum(DATA.alerts.length)]];
    if (WEEKS.length) items.push([t("k_period"), fmtDate(WEEKS[state.filter.from], true) + " \u2013 " + fmtDate(weekEnd(WEEKS[state.filter.to]), true)]);
    if (DATA.run && DATA.run.finished_at) items.push([t("k_run"), fmtDate(DATA.run.finished_at, true)]);
    items.forEach(function (item) {
      box.appendChild(el("div", { cls: "kpi" }, el("div", { cls: "value", text: item[1] }), el("div", { cls: "label", text: item[0] })));
    });
  }

  function chart(id) {
    var node = document.getElementById(id);
    if (!charts[id]) charts[id] = echarts.init(node, null, { renderer: "svg" });
    return charts[id];
  }
  function weekLabels() {
    return WEEKS.slice(state.filter.from, state.filter.to + 1).map(function (w) { return fmtDate(w, false); });
  }
  function stackedOption(groups, dim) {
    var names = Object.keys(groups).sort();
    return {
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 48, right: 16, top: 32, bottom: 28 },
      xAxis: { type: "category", data: weekLabels() },
      yAxis: { type: "value", minInterval: 1 },
      series: names.map(function (name) {
        return { name: valueLabel(dim, name), type: "bar", stack: "all", data: groups[name].slice(state.filter.from, state.filter.to + 1) };
      }),
    };
  }
  function renderVolume() {
    chart("chart-source").setOption(stackedOption(series(DATA.volume, "source"), "source"), true);
    chart("chart-lang").setOption(stackedOption(series(DATA.volume, "lang"), "lang"), true);
  }

  function openLink(themeId, label) {
    return el("button", { type: "button", cls: "link", "data-theme": themeId, text: label, on: { click: function () { openTheme(themeId); } } });
  }

  function renderAlerts() {
    var list = clear(document.getElementById("alert-list"));
    if (!DATA.alerts.length) { list.appendChild(el("li", { cls: "empty", text: t("no_alerts") })); return; }
    var shown = state.allAlerts ? DATA.alerts : DATA.alerts.slice(0, TOP_ALERTS);
    shown.forEach(function (a) {
      var theme = themesById[a.theme_id];
      var params = { count: fmtNum(a.count), week: fmtDate(a.period, true), baseline: fmtNum(a.baseline, 1) };
      var line = a.kind === "died" ? t("alert_died", params) : a.kind === "proposed" ? t("alert_proposed", params) : t("alert_line", params);
      var item = el("li", { "data-kind": a.kind },
        el("span", { cls: "badge " + a.kind, text: t("a_" + a.kind) }),
        theme ? openLink(theme.id, themeName(theme)) : el("span", { cls: "theme-id", text: a.theme_id }),
        " \u2014 " + line);
      if (a.kind === "proposed") item.appendChild(el("div", { cls: "detail", text: a.message }));
      list.appendChild(item);
    });
    if (DATA.alerts.length > TOP_ALERTS) {
      list.appendChild(el("li", null, el("button", { type: "button", cls: "more",
        text: state.allAlerts ? t("fewer_alerts") : t("all_alerts", { n: DATA.alerts.length }),
        on: { click: function () { state.allAlerts = !state.allAlerts; render(); } } })));
    }
  }

  function sparkline(counts) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 120 28");
    var slice = counts.slice(state.filter.from, state.filter.to + 1);
    var max = Math.max.apply(null, slice.concat([1]));
    var step = slice.length > 1 ? 118 / (slice.length - 1) : 0;
    var line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", slice.map(function (n, i) { return (1 + i * step).toFixed(1) + "," + (27 - (n / max) * 25).toFixed(1); }).join(" "));
    svg.appendChild(line);
    return svg;
  }

  function themeStats() {
    var volume = weekly(DATA.volume);
    var units = total(DATA.volume);
    return DATA.themes.filter(function (th) { return th.level === 0; }).map(function (th) {
      var counts = weekly(th);
      var size = total(th);
      return { theme: th, counts: counts, size: size, share: units ? size / units : 0, growth: growth(counts, volume) };
    }).filter(function (s) { return s.size > 0; });
  }

  function sortStats(stats) {
    var key = state.sort;
    stats.sort(function (a, b) {
      if (key === "priority") return (b.theme.priority || 0) - (a.theme.priority || 0) || b.size - a.size;
      if (key === "growth") return (b.growth === null ? -Infinity : b.growth) - (a.growth === null ? -Infinity : a.growth) || b.size - a.size;
      return b.size - a.size || (a.theme.id < b.theme.id ? -1 : 1);
    });
    return stats;
  }

  function renderThemeTable(stats) {
    var box = clear(document.getElementById("theme-table"));
    if (!stats.length) { box.appendChild(el("p", { cls: "empty", text: t("no_themes") })); return; }
    var withPriority = hasNeed("priority");
    var withSentiment = hasNeed("sentiment");
    function head(label, sortKey, cls) {
      var th = el("th", { cls: (cls || "") + (sortKey ? " sortable" : "") + (sortKey === state.sort ? " sorted" : ""), text: label });
      if (sortKey) th.addEventListener("click", function () { state.sort = sortKey; render(); });
      return th;
    }
    var headRow = el("tr", null, el("th", { text: "#" }), head(t("col_theme")), head(t("col_size"), "size", "num"),
      head(t("col_share"), null, "num"), head(t("col_growth"), "growth", "num"), head(t("col_trend")),
      withPriority ? head(t("col_priority"), "priority", "num") : null,
      withSentiment ? head(t("col_sentiment"), null, "num") : null,
      head(t("col_keywords")));
    var body = el("tbody");
    var rows = state.showAll ? stats : stats.slice(0, TOP_ROWS);
    rows.forEach(function (s, i) {
      var th = s.theme;
      var g = s.growth;
      var keywords = themeKeywords(th).slice(0, 5).join(" \u00b7 ");
      body.appendChild(el("tr", { cls: "theme-row", "data-theme": th.id, on: { click: function () { openTheme(th.id); } } },
        el("td", { cls: "num", text: String(i + 1) }),
        el("td", null, el("span", { cls: "theme-name", text: themeName(th) }), el("span", { cls: "theme-id", text: th.id })),
        el("td", { cls: "num size", text: fmtNum(s.size) }),
        el("td", { cls: "num", text: fmtPct(s.share) }),
        el("td", { cls: "num " + (g === null ? "" : g > 0 ? "up" : "down"), text: g === null ? "\u2013" : fmtPct(g, true) }),
        el("td", null, sparkline(s.counts)),
        withPriority ? el("td", { cls: "num", text: th.priority === undefined ? "\u2013" : fmtNum(th.priority, 2) }) : null,
        withSentiment ? el("td", { cls: "num", text: th.sentiment === undefined ? "\u2013" : fmtNum(th.sentiment, 2) }) : null,
        el("td", { cls: "kw", text: keywords })));
    });
    box.appendChild(el("table", null, el("thead", null, headRow), body));
    if (stats.length > TOP_ROWS) {
      box.appendChild(el("button", { type: "button", cls: "more",
        text: state.showAll ? t("show_top", { n: TOP_ROWS }) : t("show_all", { n: stats.length }),
        on: { click: function () { state.showAll = !state.showAll; render(); } } }));
    }
  }

  /* Sections drawn only when the run has needs profiles (see voc.report.data.NeedsData). */
  function renderNeeds(stats) {
    var priority = document.getElementById("priority");
    priority.hidden = !hasNeed("priority");
    if (!priority.hidden) {
      var ranked = stats.filter(function (s) { return s.theme.priority !== undefined; })
        .sort(function (a, b) { return b.theme.priority - a.theme.priority; }).slice(0, TOP_PRIORITIES);
      var ol = el("ol", { cls: "needs" });
      ranked.forEach(function (s) {
        var th = s.theme;
        ol.appendChild(el("li", { "data-theme": th.id }, openLink(th.id, themeName(th)),
          el("span", { cls: "detail", text: " \u00b7 " + t("priority_line", {
            p: fmtNum(th.priority, 1),
            gap: th.need_gap === undefined ? "\u2013" : fmtNum(th.need_gap, 2),
            churn: th.churn_risk === undefined ? "\u2013" : fmtPct(th.churn_risk) }) }),
          th.need_statement ? el("div", { cls: "need", text: localText(th.need_statement) }) : null,
          th.priority_parts ? partsBar(th) : null));
      });
      clear(document.getElementById("priority-body")).appendChild(ol);
    }
    var unstated = document.getElementById("unstated");
    unstated.hidden = !(DATA.unstated_needs && DATA.unstated_needs.length);
    if (!unstated.hidden) renderUnstated();
    var journey = document.getElementById("journey");
    journey.hidden = !(STAGE_AT >= 0 || hasNeed("stages"));
    if (!journey.hidden) renderJourney(stats);
  }

  function renderUnstated() {
    var body = clear(document.getElementById("unstated-body"));
    var ul = el("ul", { cls: "needs" });
    DATA.unstated_needs.forEach(function (n) {
      var theme = themesById[n.theme_id];
      var item = el("li", { "data-theme": n.theme_id || "" },
        el("div", { cls: "need", text: localText(n.statement) || (theme ? themeName(theme) : n.theme_id) }));
      if (theme) {
        item.appendChild(el("div", null, openLink(n.theme_id, themeName(theme)), el("span", { cls: "detail", text: " \u00b7 " + t("unstated_line", {
          gap: fmtNum(n.need_gap, 2), e: fmtNum(n.need_evidence), n: fmtNum(n.units), r: fmtNum(n.need_requests),
          w: fmtNum((n.signals || {}).workaround || 0) }) })));
      }
      (n.evidence || []).filter(quoteMatches).slice(0, EVIDENCE_SHOWN).forEach(function (q) {
        item.appendChild(el("blockquote", { cls: "evidence", "data-unit": q.unit_id }, "\u201c" + q.text + "\u201d",
          el("span", { cls: "detail", text: " \u2014 " + t("r_" + q.reason) + " \u00b7 " + valueLabel("source", q.source) })));
      });
      ul.appendChild(item);
    });
    body.appendChild(ul);
    body.appendChild(methodNote());
  }

  /* How need gap and unstated needs are decided, in words, with the thresholds used. */
  function methodNote() {
    var m = DATA.needs_method || {};
    return el("div", { cls: "method" },
      el("p", { cls: "detail formula", text: t("gap_formula", { par: m.request_par }) }),
      el("p", { cls: "detail", text: t("unstated_rule", {
        gap: m.unstated_gap, ev: fmtPct(m.unstated_evidence), rq: fmtPct(m.unstated_requests),
        wk: fmtPct(m.unstated_workarounds), min: m.unstated_min_units }) }));
  }

  function partsBar(theme) {
    var bar = el("div", { cls: "parts" });
    PARTS.forEach(function (k) {
      var v = theme.priority_parts[k] || 0;
      if (!v) return;
      var seg = el("span", { cls: "part", "data-part": k, title: t("part_" + k) + " " + fmtNum(v, 1) });
      seg.style.width = Math.min(100, v) + "%";
      seg.style.background = PART_COLORS[k];
      bar.appendChild(seg);
    });
    return bar;
  }

  function partsList(theme) {
    var box = el("div", { cls: "bars parts-list" });
    PARTS.forEach(function (k) {
      var v = theme.priority_parts[k] || 0;
      var swatch = el("span", { cls: "swatch" });
      swatch.style.background = PART_COLORS[k];
      var bar = el("div", { cls: "bar" });
      bar.style.width = Math.min(100, v) + "%";
      bar.style.background = PART_COLORS[k];
      box.appendChild(el("div", { "data-part": k }, swatch, t("part_" + k)));
      box.appendChild(el("div", null, bar));
      box.appendChild(el("div", { cls: "num", text: fmtNum(v, 1) }));
    });
    return box;
  }

  function renderJourney(stats) {
    var counts = {};
    stats.forEach(function (s) { counts[s.theme.id] = stageCounts(s.theme); });
    var order = STAGE_AT >= 0 ? DATA.values.stage : [];
    var stages = order.filter(function (k) { return stats.some(function (s) { return counts[s.theme.id][k]; }); });
    stats.forEach(function (s) { Object.keys(counts[s.theme.id]).forEach(function (k) { if (stages.indexOf(k) < 0) stages.push(k); }); });
    var rows = stats.filter(function (s) { return Object.keys(counts[s.theme.id]).length; }).slice(0, TOP_ROWS);
    var body = clear(document.getElementById("journey-body"));
    if (!rows.length) { body.appendChild(el("p", { cls: "empty", text: t("no_themes") })); return; }
    var max = 1;
    rows.forEach(function (s) { stages.forEach(function (k) { max = Math.max(max, counts[s.theme.id][k] || 0); }); });
    var head = el("tr", null, el("th", { text: t("col_theme") }));
    stages.forEach(function (k) { head.appendChild(el("th", { "data-stage": k, text: valueLabel("stage", k) })); });
    var tbody = el("tbody");
    rows.forEach(function (s) {
      var tr = el("tr", { "data-theme": s.theme.id }, el("td", null, openLink(s.theme.id, themeName(s.theme))));
      stages.forEach(function (k) {
        var n = counts[s.theme.id][k] || 0;
        var td = el("td", { "data-stage": k, text: n ? fmtNum(n) : "" });
        td.style.background = "rgba(47, 111, 222, " + (0.08 + 0.8 * n / max).toFixed(2) + ")";
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
    body.appendChild(el("table", { cls: "heat" }, el("thead", null, head), tbody));
  }

  // -- theme panel -----------------------------------------------------------------------------

  function mixBars(mix, dim) {
    var box = el("div", { cls: "bars" });
    var sum = Object.keys(mix).reduce(function (acc, k) { return acc + mix[k]; }, 0) || 1;
    Object.keys(mix).forEach(function (k) {
      var bar = el("div", { cls: "bar" });
      bar.style.width = (100 * mix[k] / sum).toFixed(1) + "%";
      box.appendChild(el("div", { text: valueLabel(dim, k) }));
      box.appendChild(el("div", null, bar));
      box.appendChild(el("div", { cls: "num", text: fmtPct(mix[k] / sum) }));
    });
    return box;
  }

  function quoteInPeriod(q) {
    if (!q.created_at) return fullRange();
    var day = q.created_at.slice(0, 10);
    var from = WEEKS[state.filter.from];
    var to = WEEKS[state.filter.to];
    if (from && day < from) return false;
    if (to && parseDay(day).getTime() >= parseDay(to).getTime() + 7 * 86400000) return false;
    return true;
  }
  function quoteMatches(q) {
    if (state.filter.source && q.source !== state.filter.source) return false;
    if (state.filter.lang && q.lang !== state.filter.lang) return false;
    if (state.filter.stage && (q.stage || "unknown") !== state.filter.stage) return false;
    return quoteInPeriod(q);
  }

  function showRecord(q) {
    var dialog = clear(document.getElementById("record"));
    var text = el("div", { cls: "record-text" }, q.cut_before ? "\u2026" : "", q.before, el("mark", { text: q.text }), q.after, q.cut_after ? "\u2026" : "");
    dialog.appendChild(el("div", { cls: "panel-head" },
      el("h2", { text: t("record", { id: q.external_id || q.record_id }) }),
      el("button", { type: "button", cls: "close", "aria-label": t("close"), text: "\u00d7", on: { click: function () { dialog.close(); } } })));
    dialog.appendChild(el("p", { cls: "detail", text: [valueLabel("source", q.source), q.created_at ? fmtDate(q.created_at, true) : t("undated"), q.record_id].join(" \u00b7 ") }));
    dialog.appendChild(text);
    dialog.showModal();
  }

  function panelSection(title) { return el("h3", { text: title }); }

  function quoteBlock(q, cls) {
    var meta = [valueLabel("source", q.source), q.created_at ? fmtDate(q.created_at, true) : t("undated"), t("lang_" + q.lang), t("r_" + q.reason)].join(" \u00b7 ");
    return el("div", { cls: cls, "data-unit": q.unit_id },
      el("p", { text: q.text }),
      el("div", { cls: "detail" }, meta + " \u00b7 ",
        el("button", { type: "button", cls: "link full-record", text: t("full_record"), on: { click: function () { showRecord(q); } } })));
  }

  function renderPanel() {
    var panel = document.getElementById("panel");
    var theme = themesById[state.openTheme];
    document.getElementById("overlay").hidden = !theme;
    panel.hidden = !theme;
    if (charts["chart-theme"]) { charts["chart-theme"].dispose(); delete charts["chart-theme"]; }
    clear(panel);
    if (!theme) return;
    panel.setAttribute("data-theme", theme.id);
    panel.appendChild(el("div", { cls: "panel-head" },
      el("h2", { text: themeName(theme) }), el("span", { cls: "theme-id", text: theme.id }),
      el("button", { type: "button", cls: "close", "aria-label": t("close"), text: "\u00d7", on: { click: function () { openTheme(null); } } })));
    if (theme.curated_name) panel.appendChild(el("div", { cls: "detail", text: t("curated_name") }));
    if (theme.need_statement) panel.appendChild(el("p", { cls: "need need-statement", text: localText(theme.need_statement) }));
    if (theme.priority !== undefined) {
      panel.appendChild(panelSection(t("priority_parts", { p: fmtNum(theme.priority, 1) })));
      if (theme.priority_parts) { panel.appendChild(partsBar(theme)); panel.appendChild(partsList(theme)); }
    }

    panel.appendChild(panelSection(t("names")));
    var names = el("div");
    ["zh", "en"].forEach(function (l) {
      if (theme.names && theme.names[l]) names.appendChild(el("div", null, el("span", { cls: "detail", text: t("lang_" + l) + ": " }), theme.names[l]));
    });
    panel.appendChild(names);
    panel.appendChild(panelSection(t("keywords")));
    ["zh", "en"].forEach(function (l) {
      var words = theme.keywords[l] || [];
      if (!words.length) return;
      var chips = el("div", { cls: "chips" }, el("span", { cls: "detail", text: t("lang_" + l) + ": " }));
      words.forEach(function (w) { chips.appendChild(el("span", { cls: "chip", text: w })); });
      panel.appendChild(chips);
    });

    panel.appendChild(panelSection(t("trend")));
    var chartBox = el("div", { cls: "chart", id: "chart-theme" });
    panel.appendChild(chartBox);
    var counts = weekly(theme);
    var volume = weekly(DATA.volume);
    charts["chart-theme"] = echarts.init(chartBox, null, { renderer: "svg" });
    charts["chart-theme"].setOption({
      animation: false,
      tooltip: { trigger: "axis" },
      legend: { top: 0 },
      grid: { left: 48, right: 48, top: 32, bottom: 28 },
      xAxis: { type: "category", data: weekLabels() },
      yAxis: [{ type: "value", minInterval: 1 }, { type: "value", axisLabel: { formatter: function (v) { return fmtPct(v); } } }],
      series: [
        { name: t("mentions"), type: "bar", data: counts.slice(state.filter.from, state.filter.to + 1) },
        { name: t("share"), type: "line", yAxisIndex: 1, data: counts.slice(state.filter.from, state.filter.to + 1).map(function (n, i) {
          var v = volume[state.filter.from + i];
          return v ? +(n / v).toFixed(4) : 0;
        }) },
      ],
    });

    panel.appendChild(panelSection(t("sources")));
    var bySource = {};
    var byLang = {};
    Object.keys(theme.cells).forEach(function (key) {
      if (!keyMatches(key)) return;
      var parts = key.split("|");
      var n = theme.cells[key].slice(state.filter.from, state.filter.to + 1).reduce(function (a, b) { return a + b; }, 0);
      bySource[parts[0]] = (bySource[parts[0]] || 0) + n;
      byLang[parts[1]] = (byLang[parts[1]] || 0) + n;
    });
    panel.appendChild(mixBars(bySource, "source"));
    panel.appendChild(el("div", { cls: "gap" }));
    panel.appendChild(mixBars(byLang, "lang"));
    if (theme.intent_mix) panel.appendChild(el("div", { cls: "mix intent-mix" }, panelSection(t("intent_mix")), mixBars(theme.intent_mix, "intent")));
    if (theme.sentiment_mix) panel.appendChild(el("div", { cls: "mix sentiment-mix" }, panelSection(t("sentiment_mix")), mixBars(theme.sentiment_mix, "sentiment")));
    var stages = stageCounts(theme);
    if (Object.keys(stages).length) panel.appendChild(el("div", { cls: "mix stage-mix" }, panelSection(t("stages")), mixBars(stages, "stage")));
    if (theme.churn_risk !== undefined) panel.appendChild(el("p", { cls: "churn" }, el("strong", { text: t("churn_risk") + ": " }), t("churn_line", { p: fmtPct(theme.churn_risk) })));
    var r = theme.rating_impact;
    if (r) {
      panel.appendChild(el("p", { cls: "rating" }, el("strong", { text: t("rating_impact") + ": " }), t("rating_line", {
        impact: (r.impact > 0 ? "+" : "") + fmtNum(r.impact, 2), field: t("f_" + r.field), mean: fmtNum(r.mean, 2),
        rest: fmtNum(r.rest_mean, 2), n: fmtNum(r.n), rest_n: fmtNum(r.rest_n) })));
    }
    if (theme.need_gap !== undefined) {
      panel.appendChild(el("p", { cls: "gap-line" }, el("strong", { text: t("need_gap") + ": " }), t("gap_line", {
        gap: fmtNum(theme.need_gap, 2), e: fmtNum(theme.need_evidence || 0), r: fmtNum(theme.need_requests || 0) })));
      if (DATA.needs_method) panel.appendChild(el("p", { cls: "detail formula", text: t("gap_formula", { par: DATA.needs_method.request_par }) }));
    }

    panel.appendChild(panelSection(t("quotes")));
    var quotes = theme.quotes.filter(quoteMatches);
    if (!quotes.length) panel.appendChild(el("p", { cls: "empty", text: t("no_quotes") }));
    quotes.forEach(function (q) { panel.appendChild(quoteBlock(q, "quote")); });
    var evidence = (theme.evidence || []).filter(quoteMatches);
    if (evidence.length) {
      panel.appendChild(panelSection(t("evidence")));
      evidence.forEach(function (q) { panel.appendChild(quoteBlock(q, "evidence-quote")); });
    }

    var children = DATA.themes.filter(function (c) { return c.parent === theme.id; });
    if (children.length) {
      panel.appendChild(panelSection(t("children")));
      var ul = el("ul");
      children.forEach(function (c) { ul.appendChild(el("li", null, openLink(c.id, themeName(c)), " ", el("span", { cls: "detail", text: fmtNum(total(c)) }))); });
      panel.appendChild(ul);
    }
    if (theme.parent && themesById[theme.parent]) {
      panel.appendChild(panelSection(t("parent")));
      panel.appendChild(openLink(theme.parent, themeName(themesById[theme.parent])));
    }
    panel.appendChild(panelSection(t("lineage")));
    if (!theme.history.length) panel.appendChild(el("p", { cls: "empty", text: t("no_history") }));
    var hist = el("ul", { cls: "history" });
    theme.history.forEach(function (e) {
      var parts = [fmtDate(e.at, true), t("l_" + e.kind)];
      if (e.other_ids && e.other_ids.length) parts.push(e.other_ids.join(", "));
      hist.appendChild(el("li", null, parts.join(" \u00b7 "), e.detail ? el("span", { cls: "detail", text: " \u2014 " + e.detail }) : null));
    });
    panel.appendChild(hist);
  }

  function openTheme(id) {
    state.openTheme = id;
    renderPanel();
    if (id) document.getElementById("panel").scrollTop = 0;
  }

  // -- everything ------------------------------------------------------------------------------

  function render() {
    renderStatic();
    renderFilters();
    if (!WEEKS.length && !DATA.themes.length) {
      clear(document.getElementById("kpis")).appendChild(el("p", { cls: "empty", text: t("no_data") }));
      return;
    }
    var stats = sortStats(themeStats());
    renderKpis(stats);
    renderVolume();
    renderAlerts();
    renderThemeTable(stats);
    renderNeeds(stats);
    if (state.openTheme) renderPanel();
  }

  document.querySelectorAll(".lang-switch button").forEach(function (b) {
    b.addEventListener("click", function () { state.lang = b.getAttribute("data-lang"); render(); });
  });
  document.getElementById("overlay").addEventListener("click", function () { openTheme(null); });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape" && state.openTheme && !document.getElementById("record").open) openTheme(null); });
  window.addEventListener("resize", function () { Object.keys(charts).forEach(function (k) { charts[k].resize(); }); });
  if (hasNeed("priority")) state.sort = "priority";
  render();
  document.body.setAttribute("data-ready", "true");
})();

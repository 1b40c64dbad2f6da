// Set-of-marks walker, run by lma.tools.browser in the page on every observation.
// Contract: finds the visible elements an agent can act on (and text it should read), gives each
// a stable integer id in the attribute data-lma-id (an element keeps its id while it lives; new
// elements get ids above args.next, so ids never repeat within a browser session), and returns
// {title, next, elements: [{id, box: [x0, y0, x1, y1], role, label, state, frame, point}]}, boxes in CSS
// pixels of the viewport (the screenshot). Same-origin iframes are walked too; their elements carry
// frame = the data-lma-frame numbers of the iframes that hold them, outermost first ([] = top);
// point is where a click lands, relative to the element's top-left corner (an uncovered spot).
(args) => {
  const ROLES = new Set(["button", "link", "checkbox", "radio", "textbox", "searchbox", "combobox",
    "listbox", "option", "menuitem", "menuitemcheckbox", "menuitemradio", "tab", "switch", "slider",
    "spinbutton", "treeitem", "gridcell"]);
  const SVG_SHAPES = new Set(["circle", "rect", "ellipse", "polygon", "path", "line", "polyline", "text"]);
  const INPUT_ROLES = {checkbox: "checkbox", radio: "radio", button: "button", submit: "button",
    reset: "button", image: "button", range: "slider", number: "spinbutton", search: "searchbox"};
  let next = Math.max(args.next, window.__lmaNext || 0);
  let nextFrame = window.__lmaNextFrame || 1;
  const out = [];
  const clip = (s, n) => (s || "").replace(/\s+/g, " ").trim().slice(0, n);

  function roleOf(el, style, parentStyle) {
    const explicit = (el.getAttribute("role") || "").split(" ")[0];
    if (ROLES.has(explicit)) return explicit;
    const tag = el.tagName;
    if (tag === "A" && el.hasAttribute("href")) return "link";
    if (tag === "BUTTON" || tag === "SUMMARY") return "button";
    if (tag === "INPUT") return el.type === "hidden" ? null : (INPUT_ROLES[el.type] || "textbox");
    if (tag === "TEXTAREA") return "textbox";
    if (tag === "SELECT") return "combobox";
    if (tag === "OPTION") return null;  // reached through select(element, option)
    if (el.isContentEditable && !(el.parentElement && el.parentElement.isContentEditable)) return "textbox";
    if (el instanceof SVGElement && SVG_SHAPES.has(el.tagName.toLowerCase())) return "graphic";
    if (tag === "CANVAS") return "canvas";
    if (el.hasAttribute("onclick") || (el.tabIndex >= 0 && el.hasAttribute("tabindex"))) return "clickable";
    if (style.cursor === "pointer" && (!parentStyle || parentStyle.cursor !== "pointer")) return "clickable";
    return null;
  }

  function labelText(label) {  // a <label>'s words, without the text of the controls inside it
    let text = "";
    for (const node of label.childNodes) {
      if (node.nodeType === 3) text += node.data;
      else if (node.nodeType === 1 && !["SELECT", "INPUT", "TEXTAREA", "BUTTON"].includes(node.tagName)) {
        text += " " + (node.innerText || node.textContent);
      }
    }
    return text;
  }

  function labelOf(el, role, doc) {
    const aria = el.getAttribute("aria-label");
    if (aria) return clip(aria, 100);
    const by = el.getAttribute("aria-labelledby");
    if (by) {
      const text = by.split(/\s+/).map((id) => (doc.getElementById(id) || {}).textContent || "").join(" ");
      if (clip(text, 100)) return clip(text, 100);
    }
    if (el.labels && el.labels.length) {
      const text = Array.from(el.labels).map(labelText).join(" ");
      if (clip(text, 100)) return clip(text, 100);
    }
    if (el.tagName === "INPUT" && ["button", "submit", "reset"].includes(el.type)) return clip(el.value, 100);
    if (el.tagName === "SELECT") return clip(el.name || el.id, 100);
    if (el.tagName === "INPUT" || el.tagName === "TEXTAREA") {
      return clip(el.placeholder || el.name || el.id || el.title, 100);
    }
    if (role === "graphic") {
      const fill = el.getAttribute("fill") || "";
      return clip(el.tagName.toLowerCase() + (fill ? " " + fill : "") + " " + (el.textContent || ""), 100);
    }
    const text = clip(el.innerText || el.textContent, 100);
    return text || clip(el.title || el.getAttribute("alt") || el.getAttribute("value"), 100);
  }

  function stateOf(el) {
    const parts = [];
    if (el.tagName === "INPUT" && (el.type === "checkbox" || el.type === "radio")) {
      if (el.checked) parts.push("checked");
    } else if (el.tagName === "SELECT") {
      const chosen = el.selectedOptions[0];
      parts.push("selected=" + JSON.stringify(chosen ? clip(chosen.text, 60) : ""));
      parts.push("options=" + JSON.stringify(Array.from(el.options).slice(0, 30).map((o) => clip(o.text, 40))));
    } else if ((el.tagName === "INPUT" || el.tagName === "TEXTAREA") && el.value) {
      parts.push("value=" + JSON.stringify(el.type === "password" ? "*".repeat(el.value.length) : clip(el.value, 60)));
    }
    if (el.disabled) parts.push("disabled");
    if (el.ownerDocument.activeElement === el) parts.push("focused");
    return parts.join(" ");
  }

  function ownText(el) {
    let text = "";
    for (const node of el.childNodes) if (node.nodeType === 3) text += node.data;
    return text.trim();
  }

  function visit(el, doc, ctx, under) {
    const style = doc.defaultView.getComputedStyle(el);
    if (style.display === "none") return;
    let role = roleOf(el, style, ctx.parentStyle);
    let inline = false;  // a text block whose children are all inline: one element, its whole text
    if (!role && !under && ownText(el) && !el.closest("label")) {
      role = "text";
      inline = Array.from(el.children).every(
        (c) => c.tagName === "BR" || doc.defaultView.getComputedStyle(c).display.startsWith("inline"));
    }
    if (role && out.length < args.max) {
      mark(el, doc, ctx, role, style, role !== "text" ? labelOf(el, role, doc) : clip(inline ? el.innerText : ownText(el), 100));
    }
    const childCtx = {...ctx, parentStyle: style};
    for (const child of el.children) visit(child, doc, childCtx, under || inline || (role !== null && role !== "text"));
  }

  function boxOf(el, doc, role) {  // text blocks: the box of their text, not of the whole block
    if (role !== "text") return el.getBoundingClientRect();
    const range = doc.createRange();
    range.selectNodeContents(el);
    const r = range.getBoundingClientRect();
    return r.width > 0 && r.height > 0 ? r : el.getBoundingClientRect();
  }

  function mark(el, doc, ctx, role, style, label) {
    const r = boxOf(el, doc, role);
    if (r.width <= 0 || r.height <= 0 || style.visibility === "hidden" || +style.opacity === 0) return;
    const x0 = Math.max(r.left, 0), y0 = Math.max(r.top, 0);
    const x1 = Math.min(r.right, ctx.vw), y1 = Math.min(r.bottom, ctx.vh);
    if (x1 <= x0 || y1 <= y0) return;
    // The first of a few points inside the visible box that is not covered by another element
    // (the agent's click lands there); an element covered at all of them is not listed.
    const labels = el.labels ? Array.from(el.labels) : [];
    const ours = (hit) => !hit || hit === el || el.contains(hit) || hit.contains(el) || labels.includes(hit);
    const own = el.getBoundingClientRect();  // click positions are relative to the element's own box
    let point = null;
    for (const [fx, fy] of [[0.5, 0.5], [0.25, 0.5], [0.75, 0.5], [0.5, 0.25], [0.5, 0.75], [0.1, 0.1], [0.9, 0.9], [0.1, 0.9], [0.9, 0.1]]) {
      const px = x0 + (x1 - x0) * fx, py = y0 + (y1 - y0) * fy;
      if (ours(doc.elementFromPoint(px, py))) { point = [px - own.left, py - own.top]; break; }
    }
    if (!point) return;
    if (!el.hasAttribute("data-lma-id")) el.setAttribute("data-lma-id", String(next++));
    out.push({
      id: +el.getAttribute("data-lma-id"),
      box: [Math.round(x0 + ctx.dx), Math.round(y0 + ctx.dy), Math.round(x1 + ctx.dx), Math.round(y1 + ctx.dy)],
      role: role,
      label: label,
      state: stateOf(el),
      frame: ctx.frame,
      point: point,
    });
  }

  function walk(doc, ctx) {
    if (doc.body) visit(doc.body, doc, ctx, false);
    for (const iframe of doc.querySelectorAll("iframe")) {
      let inner = null;
      try { inner = iframe.contentDocument; } catch (e) { inner = null; }  // cross-origin: not walked
      const r = iframe.getBoundingClientRect();
      if (!inner || !inner.body || r.width <= 0 || r.height <= 0) continue;
      if (!iframe.hasAttribute("data-lma-frame")) iframe.setAttribute("data-lma-frame", String(nextFrame++));
      const fx = r.left + iframe.clientLeft, fy = r.top + iframe.clientTop;
      walk(inner, {dx: ctx.dx + fx, dy: ctx.dy + fy, parentStyle: null,
                   frame: ctx.frame.concat([+iframe.getAttribute("data-lma-frame")]),
                   vw: Math.min(ctx.vw - fx, iframe.clientWidth), vh: Math.min(ctx.vh - fy, iframe.clientHeight)});
    }
  }

  walk(document, {dx: 0, dy: 0, parentStyle: null, frame: [], vw: window.innerWidth, vh: window.innerHeight});
  window.__lmaNext = next;
  window.__lmaNextFrame = nextFrame;
  return {title: document.title, next: next, elements: out};
}
